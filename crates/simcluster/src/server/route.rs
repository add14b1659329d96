//! Maps a request path onto what it addresses: a discovery document, a collection, one
//! object, or one of its subresources.

use crate::resources::{self, ResId, Sub, def, ids};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Version,
    ApiVersions,
    GroupList,
    Group(String),
    ResourceList {
        group: String,
        version: String,
    },
    OpenApi,
    Health,
    Metrics,
    Collection {
        res: ResId,
        ns: Option<String>,
    },
    Object {
        res: ResId,
        ns: Option<String>,
        name: String,
        sub: Option<Sub>,
        rest: String,
    },
    NotFound,
}

impl Route {
    pub(crate) fn res(&self) -> Option<ResId> {
        match self {
            Route::Collection { res, .. } | Route::Object { res, .. } => Some(*res),
            _ => None,
        }
    }
}

pub(crate) fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["api"] => Route::ApiVersions,
        ["apis"] => Route::GroupList,
        ["apis", g] => Route::Group((*g).to_string()),
        ["openapi", ..] | ["swagger.json"] => Route::OpenApi,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["sim", "metrics"] | ["metrics"] => Route::Metrics,
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::NotFound,
    }
}

fn lookup(group: &str, version: &str, plural: &str) -> Option<ResId> {
    resources::by_path(group, version, plural)
}

fn sub_of(res: ResId, s: &str) -> Option<Sub> {
    def(res)
        .subresources
        .iter()
        .copied()
        .find(|x| x.path() == s)
}

fn object(res: ResId, ns: Option<String>, name: &str, tail: &[&str]) -> Route {
    let (sub, rest) = match tail {
        [] => (None, String::new()),
        [s, rest @ ..] => match sub_of(res, s) {
            Some(sub) => (Some(sub), rest.join("/")),
            None => return Route::NotFound,
        },
    };
    if sub != Some(Sub::Proxy) && !rest.is_empty() {
        return Route::NotFound;
    }
    Route::Object {
        res,
        ns,
        name: name.to_string(),
        sub,
        rest,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    if rest.is_empty() {
        return Route::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        };
    }
    // `/api/v1/namespaces/NS/<plural>/…` is namespaced unless it names the namespace's own
    // subresource.
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && !(group.is_empty() && sub_of(ids::NAMESPACES, plural).is_some())
    {
        let Some(res) = lookup(group, version, plural) else {
            return Route::NotFound;
        };
        if !def(res).namespaced {
            return Route::NotFound;
        }
        return match tail {
            [] => Route::Collection {
                res,
                ns: Some((*ns).to_string()),
            },
            [name, t @ ..] => object(res, Some((*ns).to_string()), name, t),
        };
    }
    let [plural, tail @ ..] = rest else {
        return Route::NotFound;
    };
    let Some(res) = lookup(group, version, plural) else {
        return Route::NotFound;
    };
    match tail {
        [] => Route::Collection { res, ns: None },
        [name, t @ ..] if !def(res).namespaced => object(res, None, name, t),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            parse("/api/v1/namespaces/default/pods"),
            Route::Collection {
                res: ids::PODS,
                ns: Some("default".into())
            }
        );
        assert_eq!(
            parse("/api/v1/pods"),
            Route::Collection {
                res: ids::PODS,
                ns: None
            }
        );
        assert_eq!(
            parse("/api/v1/namespaces/default"),
            Route::Object {
                res: ids::NAMESPACES,
                ns: None,
                name: "default".into(),
                sub: None,
                rest: String::new()
            }
        );
        assert_eq!(
            parse("/api/v1/namespaces/x/status"),
            Route::Object {
                res: ids::NAMESPACES,
                ns: None,
                name: "x".into(),
                sub: Some(Sub::Status),
                rest: String::new()
            }
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/ns/deployments/web/scale"),
            Route::Object {
                res: ids::DEPLOYMENTS,
                ns: Some("ns".into()),
                name: "web".into(),
                sub: Some(Sub::Scale),
                rest: String::new()
            }
        );
        assert_eq!(
            parse("/api/v1/namespaces/ns/services/web:80/proxy/healthz/deep"),
            Route::Object {
                res: ids::SERVICES,
                ns: Some("ns".into()),
                name: "web:80".into(),
                sub: Some(Sub::Proxy),
                rest: "healthz/deep".into()
            }
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/ns/deployments/web/bogus"),
            Route::NotFound
        );
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::ResourceList {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse("/api/v1/namespaces/ns/nodes"), Route::NotFound);
    }
}
