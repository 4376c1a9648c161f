//! Browser glue: plays [`Tone`]s through Web Audio and reports whether the browser lets it.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{AudioContext, OscillatorType};

use super::sound::{AudioGate, Tone, FADE_MS};

/// One tab's audio output: an `AudioContext` made on first need and kept (browsers limit
/// how many a page may create, and each new one starts suspended again).
#[derive(Default)]
pub struct Speaker {
    context: Option<AudioContext>,
    on_state: Option<Closure<dyn FnMut()>>,
}

fn state_text(context: &AudioContext) -> &'static str {
    match context.state() {
        web_sys::AudioContextState::Running => "running",
        web_sys::AudioContextState::Closed => "closed",
        _ => "suspended",
    }
}

impl Speaker {
    /// Makes the context if there is none yet; `on_change` hears every later state change
    /// (e.g. "running" after the first click in the tab). The gate it is in now.
    pub fn prepare(&mut self, on_change: impl Fn(AudioGate) + 'static) -> AudioGate {
        if self.context.is_none() {
            let Ok(context) = AudioContext::new() else {
                return AudioGate::Unsupported;
            };
            let watched = context.clone();
            let closure = Closure::<dyn FnMut()>::new(move || {
                on_change(AudioGate::of_state(state_text(&watched)));
            });
            context.set_onstatechange(Some(closure.as_ref().unchecked_ref()));
            self.on_state = Some(closure);
            self.context = Some(context);
        }
        self.gate()
    }

    /// The gate now (`Idle` before [`Speaker::prepare`]).
    pub fn gate(&self) -> AudioGate {
        self.context
            .as_ref()
            .map_or(AudioGate::Idle, |c| AudioGate::of_state(state_text(c)))
    }

    /// Asks the browser to let the context run (`AudioContext.resume()`). Inside a click or
    /// key press it does; elsewhere the browser may keep it suspended, which the
    /// state-change callback reports if it ever changes. The promise settles once running
    /// (or stays pending / rejects while held back); `None` without a context.
    pub fn resume(&self) -> Option<js_sys::Promise> {
        self.context.as_ref().and_then(|c| c.resume().ok())
    }

    /// [`Speaker::resume`], ignoring the outcome (the state-change callback reports it).
    pub fn nudge(&self) {
        if let Some(promise) = self.resume() {
            wasm_bindgen_futures::spawn_local(async move {
                // A rejection only means "still suspended", which the gate already says.
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            });
        }
    }

    /// Plays `tone` now if the context runs; returns the gate, so a caller can show that
    /// the browser held the sound back instead of failing silently.
    pub fn play(&self, tone: Tone) -> AudioGate {
        let Some(context) = &self.context else {
            return AudioGate::Idle;
        };
        let gate = AudioGate::of_state(state_text(context));
        if gate != AudioGate::Running {
            self.nudge();
            return gate;
        }
        let start = context.current_time() + 0.01;
        for note in tone.notes() {
            if schedule(context, start, note).is_err() {
                return AudioGate::Unsupported;
            }
        }
        AudioGate::Running
    }

    /// Closes the context (sign-out, unmount).
    pub fn close(&mut self) {
        if let Some(context) = self.context.take() {
            context.set_onstatechange(None);
            if let Ok(promise) = context.close() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                });
            }
        }
        self.on_state = None;
    }
}

/// One note: an oscillator through a gain envelope (linear fade in, hold, fade out), both
/// scheduled on the audio clock, so the main thread's timers play no part.
fn schedule(
    context: &AudioContext,
    start: f64,
    note: &super::sound::Note,
) -> Result<(), wasm_bindgen::JsValue> {
    let oscillator = context.create_oscillator()?;
    oscillator.set_type(if note.square {
        OscillatorType::Square
    } else {
        OscillatorType::Sine
    });
    oscillator.frequency().set_value(note.frequency_hz);
    let gain = context.create_gain()?;
    let t0 = start + note.start_ms / 1000.0;
    let t1 = t0 + note.duration_ms / 1000.0;
    let fade = FADE_MS / 1000.0;
    let level = gain.gain();
    level.set_value_at_time(0.0, t0)?;
    level.linear_ramp_to_value_at_time(note.gain, t0 + fade)?;
    level.set_value_at_time(note.gain, t1 - fade)?;
    level.linear_ramp_to_value_at_time(0.0, t1)?;
    oscillator.connect_with_audio_node(&gain)?;
    gain.connect_with_audio_node(&context.destination())?;
    oscillator.start_with_when(t0)?;
    // A stopped source node is freed by the browser once it has no more references.
    oscillator.stop_with_when(t1)?;
    Ok(())
}
