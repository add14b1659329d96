//! The forms a Secret value takes when written into something else: each line raw,
//! JSON-escaped, URL-encoded, and the whole value in base64 and base64url.

use base64::Engine;

/// The forms a Secret value is found in: each line raw, JSON-escaped (also YAML's double-quoted
/// style), URL-encoded (upper- and lowercase hex, `+` for a space), and the whole value (with and
/// without its trailing newline) in base64 and base64url, padded or not, in case the Secret
/// object itself was logged or the value was passed on encoded.
pub(super) fn value_forms(value: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for line in split_lines(value) {
        forms.push(line.to_vec());
        if let Ok(text) = std::str::from_utf8(line)
            && let Ok(quoted) = serde_json::to_string(text)
        {
            let escaped = quoted.as_bytes()[1..quoted.len() - 1].to_vec();
            // `/` may be written escaped too (`\/`), as some JSON encoders do.
            forms.push(
                String::from_utf8_lossy(&escaped)
                    .replace('/', "\\/")
                    .into_bytes(),
            );
            forms.push(escaped);
        }
        forms.push(percent_encode(line, true, false));
        forms.push(percent_encode(line, false, false));
        forms.push(percent_encode(line, true, true));
    }
    let whole = [value, value.trim_ascii()];
    for v in whole {
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            forms.push(engine.encode(v).into_bytes());
        }
    }
    forms
}

/// `application/x-www-form-urlencoded`-style escaping of everything but the unreserved bytes.
fn percent_encode(bytes: &[u8], upper: bool, plus_for_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else if b == b' ' && plus_for_space {
            out.push(b'+');
        } else if upper {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
    out
}

fn split_lines(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
}
