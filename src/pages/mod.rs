//! Routed pages: sign-in and the dashboard layout with the list; the thread's page lives in
//! `thread`.

pub mod conversations;
pub mod dashboard;
pub mod login;

pub use crate::thread::{NoThread, ThreadPage};
pub use dashboard::Dashboard;
pub use login::LoginPage;

use crate::api::ApiError;
use crate::cache::FetchError;

/// How an API failure looks to the cache.
pub fn fetch_error(e: ApiError) -> FetchError {
    FetchError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
}
