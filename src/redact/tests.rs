use super::*;
use base64::Engine;

const PROJECT: &str = "phc_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u";
const PERSONAL: &str = "phx_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543";
const PROJECT_SECRET: &str = "phs_Qw3Er4Ty5Ui6Op7As8Df9Gh0Jk1Lz2Xc3Vb4Nm5Q";
const OAUTH_ACCESS: &str = "pha_Mn8Bv7Cx6Za5Sd4Fg3Hj2Kl1Po9Iu8Yt7Re6Wq5E";
const OAUTH_REFRESH: &str = "phr_Lk9Jh8Gf7Ds6Ap5Oi4Uy3Tr2Ew1Qz0Xc9Vb8Nm7R";

fn secret(name: &str, key: &str, value: &[u8]) -> SecretValue {
    SecretValue {
        secret: name.into(),
        key: key.into(),
        value: value.to_vec(),
    }
}

fn redact(redactor: &Redactor, text: &str) -> (String, usize) {
    let (out, n) = redactor.redact_str(text);
    (out.into_owned(), n)
}

#[test]
fn every_posthog_key_shape_is_masked() {
    let r = Redactor::patterns_only();
    for (key, masked) in [
        (PROJECT, "phc_…9T0u"),
        (PERSONAL, "phx_…6543"),
        (PROJECT_SECRET, "phs_…Nm5Q"),
        (OAUTH_ACCESS, "pha_…Wq5E"),
        (OAUTH_REFRESH, "phr_…Nm7R"),
    ] {
        let (out, n) = redact(&r, &format!("posthog init key={key} host=eu\n"));
        assert_eq!(n, 1, "{key}");
        assert!(!out.contains(&key[4..]), "{out}");
        assert!(out.contains(masked), "{out}");
    }
}

#[test]
fn keys_in_json_yaml_env_and_urls_are_found() {
    let r = Redactor::patterns_only();
    for text in [
        format!(r#"{{"api_key":"{PROJECT}","distinct_id":"x"}}"#),
        format!("POSTHOG_API_KEY={PERSONAL}"),
        format!("        value: {PROJECT_SECRET}"),
        format!("https://eu.i.posthog.com/decide/?token={PROJECT}&v=3"),
        format!("key:{OAUTH_ACCESS},{OAUTH_REFRESH}"),
    ] {
        let (out, n) = redact(&r, &text);
        assert!(n >= 1, "{text}");
        for key in [
            PROJECT,
            PERSONAL,
            PROJECT_SECRET,
            OAUTH_ACCESS,
            OAUTH_REFRESH,
        ] {
            assert!(!out.contains(&key[4..]), "{key} left in {out}");
        }
    }
}

#[test]
fn bearer_and_basic_credentials_are_redacted() {
    let r = Redactor::patterns_only();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let cases = [
        (
            format!("Authorization: Bearer {jwt}"),
            "Authorization: Bearer [REDACTED]".to_string(),
        ),
        (
            format!("curl -H 'authorization: bearer {jwt}' https://x"),
            "curl -H 'authorization: bearer [REDACTED]' https://x".to_string(),
        ),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==".to_string(),
            "Authorization: Basic [REDACTED]".to_string(),
        ),
        (
            r#"{"headers":{"Authorization":"Bearer abcdefghijkl"}}"#.to_string(),
            r#"{"headers":{"Authorization":"Bearer [REDACTED]"}}"#.to_string(),
        ),
    ];
    for (input, expected) in cases {
        let (out, n) = redact(&r, &input);
        assert_eq!(out, expected);
        assert_eq!(n, 1, "{input}");
    }
}

#[test]
fn passwords_in_urls_keep_scheme_user_and_host() {
    let r = Redactor::patterns_only();
    let (out, n) = redact(
        &r,
        "connecting to postgres://app:Sup3r-S3cret!@db:5432/app and redis://:r3dis@cache:6379",
    );
    assert_eq!(
        out,
        "connecting to postgres://app:[REDACTED]@db:5432/app and redis://:[REDACTED]@cache:6379"
    );
    assert_eq!(n, 2);
    // A URL without credentials, or with a port only, is left alone.
    let plain = "GET https://eu.i.posthog.com:443/flags?v=2 http://[::1]:8080/x";
    assert_eq!(redact(&r, plain), (plain.to_string(), 0));
}

#[test]
fn assignments_of_passwords_secrets_and_tokens_are_redacted() {
    let r = Redactor::patterns_only();
    for (input, expected) in [
        ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
        ("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED]"),
        ("client_secret: abc123", "client_secret: [REDACTED]"),
        (r#""secret":"x y""#, r#""secret":"[REDACTED] y""#),
        ("access_token=abc&next=1", "access_token=[REDACTED]&next=1"),
        ("TOKEN = 'q1w2e3'", "TOKEN = '[REDACTED]'"),
        ("api_key: zzzzzz", "api_key: [REDACTED]"),
        ("Passwd=x", "Passwd=[REDACTED]"),
    ] {
        assert_eq!(redact(&r, input).0, expected, "{input}");
    }
}

#[test]
fn prose_and_ordinary_logs_are_untouched() {
    let r = Redactor::patterns_only();
    for text in [
        "level=info msg=\"request handled\" method=GET path=/api/orders status=200 n=7",
        "the bearer of news said hi",
        "password reset email sent to user 42",
        "tokens remain: none",
        "",
    ] {
        let (out, n) = r.redact_str(text);
        assert_eq!(n, 0, "{text}");
        assert!(matches!(out, Cow::Borrowed(_)), "{text}");
    }
}

#[test]
fn secret_values_are_redacted_wherever_they_appear() {
    let unprefixed = &PROJECT[4..];
    let (r, notes) = Redactor::new(&[
        secret("posthog-secrets", "api-key", unprefixed.as_bytes()),
        secret("db", "password", b"c0rrect horse (battery) staple*\n"),
    ]);
    assert!(notes.too_short.is_empty());
    let text = format!(
        "sdk init key {unprefixed}; db pass c0rrect horse (battery) staple* ok; \
         b64 {}",
        base64::engine::general_purpose::STANDARD.encode("c0rrect horse (battery) staple*\n")
    );
    let (out, n) = redact(&r, &text);
    assert_eq!(n, 3, "{out}");
    assert!(!out.contains(unprefixed), "{out}");
    assert!(!out.contains("c0rrect horse"), "{out}");
    assert!(
        out.contains("[REDACTED:secret/posthog-secrets/api-key]"),
        "{out}"
    );
    assert!(out.contains("[REDACTED:secret/db/password]"), "{out}");
}

#[test]
fn multi_line_secret_values_are_redacted_line_by_line() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n";
    let (r, _) = Redactor::new(&[secret("tls", "tls.key", pem.as_bytes())]);
    let log = "loaded key MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nand BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n";
    let (out, n) = redact(&r, log);
    assert_eq!(n, 2);
    assert!(!out.contains("MIIEvQ") && !out.contains("BKcwgg"), "{out}");
}

#[test]
fn non_utf8_secret_values_and_text_are_handled() {
    let value = b"\xff\xfebinary-secret\x00\x01";
    let (r, _) = Redactor::new(&[secret("bin", "blob", value)]);
    let mut text = b"prefix ".to_vec();
    text.extend_from_slice(value);
    text.extend_from_slice(b" suffix \xc3\x28");
    let mut out = Vec::new();
    assert_eq!(r.redact_into(&text, &mut out), 1);
    assert!(!out.windows(value.len()).any(|w| w == value));
    assert!(out.starts_with(b"prefix [REDACTED:secret/bin/blob] suffix"));
}

#[test]
fn short_secret_values_are_reported_not_redacted() {
    let (r, notes) = Redactor::new(&[
        secret("cfg", "region", b"eu"),
        secret("cfg", "empty", b""),
        secret("cfg", "enabled", b"true\n"),
    ]);
    assert_eq!(notes.too_short, ["cfg/region", "cfg/enabled"]);
    assert_eq!(redact(&r, "region eu is true").1, 0);
}

#[test]
fn the_longest_secret_wins_when_values_overlap() {
    let (r, _) = Redactor::new(&[
        secret("a", "short", b"abcdefgh"),
        secret("b", "long", b"abcdefgh-ijklmnop"),
    ]);
    let (out, n) = redact(&r, "x abcdefgh-ijklmnop y abcdefgh z");
    assert_eq!(
        out,
        "x [REDACTED:secret/b/long] y [REDACTED:secret/a/short] z"
    );
    assert_eq!(n, 2);
}

#[test]
fn a_secret_inside_an_assignment_is_redacted_once() {
    let (r, _) = Redactor::new(&[secret("db", "password", b"hunter2hunter2")]);
    let (out, n) = redact(&r, "password=hunter2hunter2 ok");
    assert_eq!(out, "password=[REDACTED] ok");
    assert_eq!(n, 1);
}

#[test]
fn redaction_is_idempotent() {
    let (r, _) = Redactor::new(&[secret("s", "k", b"value-of-secret")]);
    let text = format!(
        "{PERSONAL} password=x Authorization: Bearer abcdefghijk https://u:p@h value-of-secret"
    );
    let once = redact(&r, &text).0;
    let twice = redact(&r, &once).0;
    assert_eq!(once, twice);
}

#[test]
fn secret_values_never_show_in_debug_output() {
    let s = secret("db", "password", b"hunter2hunter2");
    assert!(!format!("{s:?}").contains("hunter2"));
}

/// The trigger search must find exactly what the combined regex's own search finds, whatever
/// the case of the words and wherever triggers overlap.
#[test]
fn the_trigger_search_finds_exactly_the_combined_regexs_matches() {
    let (r, _) = Redactor::new(&[
        secret("s", "a", b"MySecretToken-value"),
        secret("s", "b", b"ph-literal-phx_notakey"),
    ]);
    let combined = regex::bytes::Regex::new(&r.combined).unwrap();
    let words = [
        "PassWord=x1",
        "PASSWD: y2",
        "Authorization: BEARER abcdefghij",
        "bearer of",
        "apiKey=k3",
        "API-KEY=k4",
        "privateKey: p5",
        "Credentials=c6",
        "ToKeN=t7",
        "mysecrettoken-value",
        "MySecretToken-value",
        "ph-literal-phx_notakey",
        "PHX_AAAAAAAAAAAAAAAAAAAAAAAA",
        PERSONAL,
        "redis://:pw@h",
        "x://u:p@h",
        "secretsecret=",
        "tokentoken=z",
        " ",
        "\n",
        "plain",
        "é",
        "\u{00}",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..3000 {
        let mut text = String::new();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(words[(state % words.len() as u64) as usize]);
        }
        let expected: Vec<(usize, usize)> = combined
            .find_iter(text.as_bytes())
            .map(|m| (m.start(), m.end()))
            .collect();
        let got: Vec<(usize, usize)> = r.matches(text.as_bytes()).collect();
        assert_eq!(got, expected, "{text:?}");
    }
}

/// Issue 14 item 4: `Jx\"gR2R8…` in events.yaml and `sig=Uz%2FcRNB…%3D%3D` in postmortem.md
/// got through because only the raw and base64 forms of a Secret value were known.
#[test]
fn secret_values_are_redacted_escaped_url_encoded_and_base64url() {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let quoted = "Jx\"gR2R8/q\\w";
    let signed = "Uz/cRNB+k9 x==";
    let (r, _) = Redactor::new(&[
        secret("db", "password", quoted.as_bytes()),
        secret("hooks", "sig", format!("{signed}\n").as_bytes()),
    ]);
    let json_escaped = serde_json::to_string(quoted).unwrap();
    let json_escaped = &json_escaped[1..json_escaped.len() - 1];
    let forms = [
        quoted.to_string(),
        json_escaped.to_string(),
        json_escaped.replace('/', "\\/"),
        "Jx%22gR2R8%2Fq%5Cw".to_string(),
        "Jx%22gR2R8%2fq%5cw".to_string(),
        "Uz%2FcRNB%2Bk9%20x%3D%3D".to_string(),
        "Uz%2FcRNB%2Bk9+x%3D%3D".to_string(),
        URL_SAFE.encode(quoted),
        URL_SAFE_NO_PAD.encode(quoted),
        STANDARD_NO_PAD.encode(format!("{signed}\n")),
        URL_SAFE.encode(signed),
    ];
    for form in forms {
        let text = format!("message: \"failed: {form} at 12:00\"");
        let (out, n) = redact(&r, &text);
        assert_eq!(n, 1, "{form}: {out}");
        assert!(!out.contains(&form), "{form}: {out}");
    }
}

/// Issue 14 item 4: a value after a separate `--db-password` argument, and names outside the
/// password/secret/token pattern such as `DB_PASS`.
#[test]
fn separate_flag_values_and_pass_names_are_redacted() {
    let r = Redactor::patterns_only();
    for (input, expected) in [
        (
            "kubectl set env deploy/web DB_PASS=hunter2x",
            "kubectl set env deploy/web DB_PASS=[REDACTED]",
        ),
        ("smtp-pass: hunter2x", "smtp-pass: [REDACTED]"),
        (
            "app --db-password hunter2x --port 80",
            "app --db-password [REDACTED] --port 80",
        ),
        ("run --token abc.def --v", "run --token [REDACTED] --v"),
        ("--client-secret=s3cr3t", "--client-secret=[REDACTED]"),
    ] {
        assert_eq!(redact(&r, input).0, expected, "{input}");
    }
    for prose in [
        "bypass the cache; 12 checks passed: 3 failed",
        "--password-file /etc/pw",
        "use -- to end flags",
    ] {
        assert_eq!(redact(&r, prose).1, 0, "{prose}");
    }
}
