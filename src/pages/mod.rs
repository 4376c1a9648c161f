//! Routed pages: sign-in, the dashboard layout, the list and the thread.

pub mod dashboard;
pub mod login;
pub mod thread;

pub use dashboard::Dashboard;
pub use login::LoginPage;
pub use thread::{NoThread, ThreadPage};

use crate::api::ApiError;
use crate::cache::FetchError;

/// How an API failure looks to the cache.
pub fn fetch_error(e: ApiError) -> FetchError {
    FetchError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
}
