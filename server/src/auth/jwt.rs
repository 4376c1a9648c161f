//! HS256 JWTs: user access tokens and the anon API key, with Supabase's claim layout.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Seconds a token is still accepted after its `exp`: PostgREST's allowance for clock skew.
///
/// One rule for every check ([`check_expiry`]): REST requests, the API key, a Realtime join,
/// an `access_token` swap and a channel's expiry timer. Hosted Realtime grants no leeway
/// (`confirm_token` needs `exp - now > 0`) while PostgREST grants 30 s; the same token goes
/// to both here, and with two rules a token REST and the join still accept would be killed
/// by the channel's timer at once, and the client would rejoin in a loop. So Realtime here
/// grants PostgREST's 30 s too: a channel lives exactly as long as REST accepts its token.
pub const LEEWAY_SECS: i64 = 30;

/// The one expiry rule: a token with expiry `exp` is accepted at `now` (unix seconds)
/// through `exp + LEEWAY_SECS` inclusive, as PostgREST (and `jsonwebtoken`'s leeway) has it.
///
/// # Errors
/// [`TokenError::Expired`] with the seconds since `exp` (Realtime's "Token has expired N
/// seconds ago" counts from `exp`).
pub fn check_expiry(exp: i64, now: i64) -> Result<(), TokenError> {
    if now > exp.saturating_add(LEEWAY_SECS) {
        Err(TokenError::Expired {
            secs_ago: now.saturating_sub(exp),
        })
    } else {
        Ok(())
    }
}

/// The first unix second at which [`check_expiry`] refuses a token with expiry `exp`: when a
/// channel's expiry timer must fire.
pub fn expired_from(exp: i64) -> i64 {
    exp.saturating_add(LEEWAY_SECS).saturating_add(1)
}

/// The current time in whole unix seconds, the clock [`check_expiry`] is read against.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Signature and claims checks, with expiry left to [`check_expiry`] so that every caller
/// applies the same rule against its own clock.
fn validation(audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    validation.validate_exp = false;
    validation
}

/// Which side of the conversation a user is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppRole {
    /// Sees and writes every conversation of the org.
    Dispatcher,
    /// Sees and writes only their own conversations.
    Medic,
}

impl AppRole {
    /// Parses the `users.role` column.
    pub fn parse(text: &str) -> Option<AppRole> {
        match text {
            "dispatcher" => Some(AppRole::Dispatcher),
            "medic" => Some(AppRole::Medic),
            _ => None,
        }
    }

    /// The `users.role` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AppRole::Dispatcher => "dispatcher",
            AppRole::Medic => "medic",
        }
    }
}

/// `app_metadata`: set by the server, trusted for authorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppMetadata {
    /// Always "email" here.
    pub provider: String,
    /// The user's organisation.
    pub org_id: String,
    /// The organisation's display name, for the header.
    pub org_name: String,
    /// Dispatcher or medic.
    pub app_role: AppRole,
}

/// `user_metadata`: display fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMetadata {
    /// Name shown in the UI.
    pub display_name: String,
}

/// Claims of a user access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserClaims {
    /// Issuer.
    pub iss: String,
    /// User id.
    pub sub: String,
    /// Audience, "authenticated".
    pub aud: String,
    /// Database role, "authenticated".
    pub role: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// The user's email.
    pub email: String,
    /// The login session this token belongs to (revoked by logout).
    pub session_id: String,
    /// Server-controlled metadata.
    pub app_metadata: AppMetadata,
    /// Display metadata.
    pub user_metadata: UserMetadata,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyClaims {
    iss: String,
    role: String,
    iat: i64,
    exp: i64,
}

/// Signing material and the anon key derived from it.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    anon_key: String,
}

impl Keys {
    /// Derives keys from the shared secret.
    pub fn new(secret: &[u8]) -> Result<Keys> {
        if secret.len() < 32 {
            return Err(Error::Config(
                "the JWT secret must be at least 32 bytes".to_string(),
            ));
        }
        let encoding = EncodingKey::from_secret(secret);
        let decoding = DecodingKey::from_secret(secret);
        let claims = KeyClaims {
            iss: "supabase".into(),
            role: "anon".into(),
            iat: 1_700_000_000,
            // The anon key is public and long-lived, as Supabase's are.
            exp: 4_102_444_800,
        };
        let anon_key = encode(&Header::new(Algorithm::HS256), &claims, &encoding)
            .map_err(|e| Error::Config(format!("cannot sign anon key: {e}")))?;
        Ok(Keys {
            encoding,
            decoding,
            anon_key,
        })
    }

    /// The public anon API key.
    pub fn anon_key(&self) -> &str {
        &self.anon_key
    }

    /// Signs user claims into an access token.
    pub fn sign(&self, claims: &UserClaims) -> Result<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Config(format!("cannot sign token: {e}")))
    }

    /// Checks that an `apikey` is one of ours (an anon or service key) and not expired.
    pub fn verify_api_key(&self, key: &str) -> bool {
        match decode::<KeyClaims>(key, &self.decoding, &validation(None)) {
            Ok(data) => {
                (data.claims.role == "anon" || data.claims.role == "service_role")
                    && check_expiry(data.claims.exp, unix_now()).is_ok()
            }
            Err(_) => false,
        }
    }

    /// Checks a user access token's signature and claims but not its expiry: for callers
    /// that judge expiry themselves with [`check_expiry`] against an injected clock (the
    /// Realtime channel machine).
    ///
    /// # Errors
    /// [`TokenError::BadSignature`] or [`TokenError::Malformed`]; never `Expired`.
    pub fn decode_user(&self, token: &str) -> Result<UserClaims, TokenError> {
        decode::<UserClaims>(token, &self.decoding, &validation(Some("authenticated")))
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Malformed,
            })
    }

    /// Verifies a user access token at `now` (unix seconds): [`Keys::decode_user`], then
    /// [`check_expiry`].
    ///
    /// # Errors
    /// Any [`TokenError`].
    pub fn verify_user_at(&self, token: &str, now: i64) -> Result<UserClaims, TokenError> {
        let claims = self.decode_user(token)?;
        check_expiry(claims.exp, now)?;
        Ok(claims)
    }

    /// Verifies a user access token now ([`Keys::verify_user_at`] on the system clock).
    ///
    /// # Errors
    /// Any [`TokenError`].
    pub fn verify_user(&self, token: &str) -> Result<UserClaims, TokenError> {
        self.verify_user_at(token, unix_now())
    }
}

/// Why a user token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Past `exp` plus [`LEEWAY_SECS`] ([`check_expiry`]).
    Expired {
        /// Seconds since `exp` (not since the leeway ran out), as Realtime reports them.
        secs_ago: i64,
    },
    /// Not signed with our secret.
    BadSignature,
    /// Not a JWT, or missing required claims.
    Malformed,
}

impl TokenError {
    /// The PostgREST error for this failure.
    pub fn to_api_error(self) -> Error {
        match self {
            TokenError::Expired { .. } => Error::unauthorized("PGRST303", "JWT expired"),
            TokenError::BadSignature => {
                Error::unauthorized("PGRST301", "JWSError JWSInvalidSignature")
            }
            TokenError::Malformed => Error::unauthorized("PGRST301", "JWT could not be decoded"),
        }
    }
}

/// The authenticated caller of a request, taken from a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// User id.
    pub user_id: String,
    /// Organisation id.
    pub org_id: String,
    /// Dispatcher or medic.
    pub role: AppRole,
    /// Expiry of the token this came from, unix seconds.
    pub exp: i64,
    /// The login session.
    pub session_id: String,
}

impl From<&UserClaims> for Principal {
    fn from(c: &UserClaims) -> Self {
        Principal {
            user_id: c.sub.clone(),
            org_id: c.app_metadata.org_id.clone(),
            role: c.app_metadata.app_role,
            exp: c.exp,
            session_id: c.session_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> UserClaims {
        UserClaims {
            iss: "t".into(),
            sub: "u1".into(),
            aud: "authenticated".into(),
            role: "authenticated".into(),
            exp,
            iat: 0,
            email: "a@b.c".into(),
            session_id: "s".into(),
            app_metadata: AppMetadata {
                provider: "email".into(),
                org_id: "o".into(),
                org_name: "O".into(),
                app_role: AppRole::Medic,
            },
            user_metadata: UserMetadata {
                display_name: "A".into(),
            },
        }
    }

    #[test]
    fn signs_and_verifies() {
        let keys = Keys::new(&[7u8; 32]).unwrap();
        let c = claims(4_000_000_000);
        let token = keys.sign(&c).unwrap();
        assert_eq!(keys.verify_user(&token).unwrap(), c);
        assert!(keys.verify_api_key(keys.anon_key()));
        assert!(
            !keys.verify_api_key(&token),
            "a user token is not an api key"
        );
    }

    #[test]
    fn rejects_expired_foreign_and_garbage() {
        let keys = Keys::new(&[7u8; 32]).unwrap();
        let other = Keys::new(&[8u8; 32]).unwrap();
        let expired = keys.sign(&claims(1_000)).unwrap();
        assert!(matches!(
            keys.verify_user(&expired),
            Err(TokenError::Expired { .. })
        ));
        assert_eq!(keys.decode_user(&expired).map(|c| c.exp), Ok(1_000));
        let foreign = other.sign(&claims(4_000_000_000)).unwrap();
        assert_eq!(keys.verify_user(&foreign), Err(TokenError::BadSignature));
        assert_eq!(keys.verify_user("nope"), Err(TokenError::Malformed));
        assert!(!keys.verify_api_key(other.anon_key()));
        assert!(Keys::new(b"short").is_err());
    }

    /// Issue 12, item 1: one rule, PostgREST's 30 s leeway, the same for every check.
    #[test]
    fn a_token_is_accepted_through_exp_plus_the_leeway() {
        let keys = Keys::new(&[7u8; 32]).unwrap();
        let token = keys.sign(&claims(1_000)).unwrap();
        for (now, ok) in [(999, true), (1_000, true), (1_030, true), (1_031, false)] {
            assert_eq!(check_expiry(1_000, now).is_ok(), ok, "{now}");
            assert_eq!(keys.verify_user_at(&token, now).is_ok(), ok, "{now}");
        }
        assert_eq!(expired_from(1_000), 1_031);
        assert!(check_expiry(1_000, expired_from(1_000) - 1).is_ok());
        assert_eq!(
            check_expiry(1_000, 1_042),
            Err(TokenError::Expired { secs_ago: 42 })
        );
        assert_eq!(check_expiry(i64::MAX, i64::MAX), Ok(()), "no overflow");
    }
}
