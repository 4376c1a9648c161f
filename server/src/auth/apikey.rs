//! The one rule for finding and checking a request's API key, on every route.
//!
//! Clients send the key in different places: supabase-js sends the `apikey` header on REST
//! and auth requests and an `apikey` query parameter on the websocket URL (browsers cannot
//! set headers there); Supabase Realtime also reads an `x-api-key` header. Each route
//! answers a refusal in its own service's shape; what counts as a key is decided here.

use std::borrow::Cow;

use axum::http::HeaderMap;

use super::jwt::Keys;

/// The header supabase-js sends on REST and auth requests.
pub const HEADER: &str = "apikey";
/// The header Supabase Realtime reads before the query parameter.
pub const REALTIME_HEADER: &str = "x-api-key";
/// The query parameter of the websocket URL (also accepted on REST and auth, as PostgREST's
/// gateway does); never a PostgREST filter.
pub const QUERY_PARAM: &str = "apikey";

/// What a request's API key turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyCheck {
    /// One of this server's anon or service keys.
    Valid,
    /// No key in any accepted place.
    Missing,
    /// A key that is not ours (or is a user's access token).
    Invalid,
}

/// The key a request carries: the `apikey` header, else `x-api-key`, else the `apikey`
/// parameter of the (still percent-encoded) query string; the first place that has one wins.
pub fn find<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<Cow<'a, str>> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(key) = header(HEADER).or_else(|| header(REALTIME_HEADER)) {
        return Some(Cow::Borrowed(key));
    }
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == QUERY_PARAM)
        .map(|(_, value)| value)
}

/// Finds the request's key and checks it against `keys`.
pub fn check(keys: &Keys, headers: &HeaderMap, query: Option<&str>) -> ApiKeyCheck {
    match find(headers, query) {
        None => ApiKeyCheck::Missing,
        Some(key) if keys.verify_api_key(&key) => ApiKeyCheck::Valid,
        Some(_) => ApiKeyCheck::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn finds_the_key_wherever_clients_send_it() {
        let none = HeaderMap::new();
        let found = |h: &HeaderMap, q: Option<&str>| find(h, q).map(Cow::into_owned);
        assert_eq!(
            found(&headers(&[("apikey", "h")]), None).as_deref(),
            Some("h")
        );
        assert_eq!(
            found(&headers(&[("x-api-key", "x")]), None).as_deref(),
            Some("x")
        );
        assert_eq!(
            found(&none, Some("vsn=2.0.0&apikey=q")).as_deref(),
            Some("q")
        );
        assert_eq!(
            found(&none, Some("apikey=a%2Eb")).as_deref(),
            Some("a.b"),
            "decoded"
        );
        assert_eq!(found(&none, Some("vsn=2.0.0&notapikey=q")), None);
        assert_eq!(found(&none, None), None);
    }

    #[test]
    fn headers_come_before_the_query_and_apikey_before_x_api_key() {
        let both = headers(&[("apikey", "h"), ("x-api-key", "x")]);
        assert_eq!(find(&both, Some("apikey=q")).as_deref(), Some("h"));
        let realtime = headers(&[("x-api-key", "x")]);
        assert_eq!(find(&realtime, Some("apikey=q")).as_deref(), Some("x"));
    }

    #[test]
    fn checks_the_key_it_finds() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let anon = keys.anon_key().to_string();
        let query = format!("apikey={anon}");
        assert_eq!(
            check(&keys, &HeaderMap::new(), Some(&query)),
            ApiKeyCheck::Valid
        );
        assert_eq!(
            check(&keys, &headers(&[("apikey", &anon)]), None),
            ApiKeyCheck::Valid
        );
        assert_eq!(check(&keys, &HeaderMap::new(), None), ApiKeyCheck::Missing);
        assert_eq!(
            check(&keys, &headers(&[("apikey", "bogus")]), None),
            ApiKeyCheck::Invalid
        );
        let other = Keys::new(b"another-secret-another-secret-xx").unwrap();
        let foreign = format!("apikey={}", other.anon_key());
        assert_eq!(
            check(&keys, &HeaderMap::new(), Some(&foreign)),
            ApiKeyCheck::Invalid
        );
    }
}
