//! One Web Lock request (`navigator.locks.request(name, {signal}, callback)`), held until
//! released: the tab elections of the outbox (which tab posts) and of the alerts (which tab
//! sounds) both stand on it.
//!
//! The lock is held for as long as the promise the callback returned is pending; the
//! browser grants it to the next tab in line when this one releases it or goes away, with
//! no timers (W3C Web Locks API, "request a lock"). Reached through `Reflect` because
//! web-sys exposes `LockManager` only under `--cfg=web_sys_unstable_apis`, which every build
//! of the app would then need.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortController;

/// `navigator.locks`, if this browser and context have it (it needs a secure context).
pub fn lock_manager() -> Option<Object> {
    let navigator = web_sys::window()?.navigator();
    Reflect::get(&navigator, &JsValue::from_str("locks"))
        .ok()
        .filter(JsValue::is_object)
        .and_then(|l| l.dyn_into().ok())
}

/// A queued or held lock request. Dropping it keeps the request (and the lock) alive;
/// [`WebLock::release`] gives it up.
pub struct WebLock {
    abort: Option<AbortController>,
    /// Settles the promise the lock callback returned: the lock is released.
    release: Option<Function>,
    /// Set once this request must not hold the lock: a grant arriving later (after an
    /// abort lost the race) returns at once, releasing it.
    done: Rc<Cell<bool>>,
}

impl WebLock {
    /// Queues for the exclusive lock `name`. `granted` runs when this tab's turn comes;
    /// `lost` when the request fails without our releasing it (refused, or stolen by a
    /// `steal` request elsewhere). `None`, with neither called, when this context has no Web
    /// Locks (an insecure context, an old browser): the caller decides what that means.
    pub fn request(
        name: &str,
        granted: impl FnOnce() + 'static,
        lost: impl FnOnce() + 'static,
    ) -> Option<WebLock> {
        let locks = lock_manager()?;
        let request = Reflect::get(&locks, &JsValue::from_str("request"))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())?;
        let abort = AbortController::new().ok();
        let options = Object::new();
        if let Some(a) = &abort {
            let _ = Reflect::set(&options, &JsValue::from_str("signal"), &a.signal());
        }
        let mut release = None;
        let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let done = Rc::new(Cell::new(false));
        let finished = done.clone();
        // Called at most once, by the browser, and freed after that call. An aborted request
        // is never called and stays allocated: a few bytes per sign-out.
        let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
            if finished.get() {
                return JsValue::UNDEFINED;
            }
            granted();
            held.into()
        });
        let asked = request
            .call3(&locks, &JsValue::from_str(name), &options, &callback)
            .ok()
            .and_then(|p| p.dyn_into::<Promise>().ok())?;
        let settled = done.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // Fulfilled when we release; rejected when we abort (then `done` is set), when
            // refused or when stolen.
            if wasm_bindgen_futures::JsFuture::from(asked).await.is_err() && !settled.get() {
                lost();
            }
        });
        Some(WebLock {
            abort,
            release,
            done,
        })
    }

    /// Gives the lock up: a queued request leaves the queue, a held lock goes to the next
    /// tab in line. Neither `granted` nor `lost` runs after this.
    pub fn release(self) {
        self.done.set(true);
        if let Some(abort) = self.abort {
            abort.abort();
        }
        if let Some(release) = self.release {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}
