//! The wasm heap's live bytes as the browser benchmarks read them (issue 17, "The shift":
//! wasm memory flat). The linear memory Chrome reports only ever grows (WebAssembly memory
//! cannot shrink), so it shows the high-water mark, not what the app holds; this counts the
//! bytes allocated and not yet freed. One export, reachable from devtools scripts as
//! `window.wasmBindings.heap_bytes()`; nothing in the app calls it.
//!
//! Only the wasm build counts: native tests keep the plain system allocator.

#[cfg(target_arch = "wasm32")]
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use wasm_bindgen::prelude::wasm_bindgen;

/// The system allocator, counting what is live and the most that ever was.
#[cfg(target_arch = "wasm32")]
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_arch = "wasm32")]
fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call goes to `System` unchanged; only the counters are added.
#[cfg(target_arch = "wasm32")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `[live, peak]` bytes of the wasm heap: allocated and not yet freed now, and the most
/// that ever were (requested sizes, without the allocator's own overhead). Zeros on a
/// native build, which does not count.
#[wasm_bindgen]
pub fn heap_bytes() -> Vec<f64> {
    vec![
        LIVE.load(Ordering::Relaxed) as f64,
        PEAK.load(Ordering::Relaxed) as f64,
    ]
}
