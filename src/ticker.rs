//! A clock for background work that hidden tabs must not slow down: a dedicated worker's
//! timer posting a tick to the page.
//!
//! Chrome throttles a hidden page's timers: to one wake-up a second at once, and chained
//! timers to one a minute after five minutes hidden ("intensive wake up throttling",
//! Chrome 88+). That would stretch a 25 s realtime heartbeat past the server's 60 s idle
//! limit and a 60 s reminder to two minutes. Dedicated workers are not throttled that way,
//! and a message from one wakes the page at once, so realtime-js moves its heartbeat into a
//! worker for the same reason. A page timer is the fallback if no worker can start (a
//! Content-Security-Policy without `worker-src blob:`, an old browser).

use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, Worker};

/// A running clock; stops when dropped.
pub struct Ticker {
    clock: Clock,
}

enum Clock {
    Worker {
        worker: Worker,
        url: String,
        _on_tick: Closure<dyn FnMut(MessageEvent)>,
    },
    Page {
        _interval: gloo_timers::callback::Interval,
    },
}

impl Ticker {
    /// Calls `on_tick` every `period_ms` milliseconds (from a worker when one can start, else
    /// from a page timer) until the ticker is dropped.
    pub fn start(period_ms: u32, on_tick: impl Fn() + 'static) -> Ticker {
        let on_tick = Rc::new(on_tick);
        let tick = on_tick.clone();
        let clock = match worker_clock(period_ms, move || tick()) {
            Ok(clock) => clock,
            Err(_) => Clock::Page {
                _interval: gloo_timers::callback::Interval::new(period_ms, move || on_tick()),
            },
        };
        Ticker { clock }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Clock::Worker { worker, url, .. } = &self.clock {
            worker.set_onmessage(None);
            worker.terminate();
            let _ = web_sys::Url::revoke_object_url(url);
        }
    }
}

fn worker_clock(period_ms: u32, on_tick: impl Fn() + 'static) -> Result<Clock, JsValue> {
    let source = format!("setInterval(function () {{ postMessage(0); }}, {period_ms});");
    let parts = js_sys::Array::of1(&JsValue::from_str(&source));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let worker = match Worker::new(&url) {
        Ok(worker) => worker,
        Err(e) => {
            let _ = web_sys::Url::revoke_object_url(&url);
            return Err(e);
        }
    };
    let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| on_tick());
    worker.set_onmessage(Some(closure.as_ref().unchecked_ref()));
    Ok(Clock::Worker {
        worker,
        url,
        _on_tick: closure,
    })
}
