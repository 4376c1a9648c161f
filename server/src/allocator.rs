//! glibc's malloc tuned for a server that runs for months.
//!
//! glibc hands each thread that finds the main heap busy an arena of its own, up to eight
//! per core (glibc manual, "Memory Allocation Tunables", `glibc.malloc.arena_max`), and
//! memory freed into one arena is not reused by another. The server's SQLite work runs on
//! tokio's blocking pool, whose threads come and go, so its resident set grew with the
//! arenas rather than with the live heap: 117 → 179 MB over 150,000 messages in
//! `cargo xtask bench shift -- --events 150000`, against a flat 80–81 MB with two arenas in
//! the same run. The `MALLOC_ARENA_MAX` environment variable, if an operator sets it, wins.

/// Most arenas (`M_ARENA_MAX`) unless the environment says otherwise.
pub const ARENA_MAX: i32 = 2;

/// The arena limit to set, given the `MALLOC_ARENA_MAX` environment variable: none when the
/// operator set one (glibc has read it already), else [`ARENA_MAX`].
pub fn arena_limit(environment: Option<&str>) -> Option<i32> {
    match environment {
        Some(set) if !set.trim().is_empty() => None,
        _ => Some(ARENA_MAX),
    }
}

/// Applies [`arena_limit`]; call first thing in `main`, before any thread starts. Does
/// nothing off glibc (musl, macOS), whose allocators have no such arenas.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Some(max) = arena_limit(std::env::var("MALLOC_ARENA_MAX").ok().as_deref()) {
        // SAFETY: mallopt only sets a tunable; no thread is running yet to race it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_arenas_unless_the_operator_chose() {
        assert_eq!(arena_limit(None), Some(2));
        assert_eq!(arena_limit(Some("")), Some(2));
        assert_eq!(arena_limit(Some("8")), None);
    }
}
