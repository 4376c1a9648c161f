//! The alert tones as data, and whether the browser lets the page make sound.
//!
//! Tones are synthesised with Web Audio (an `OscillatorNode` through a `GainNode` per note,
//! see `speaker.rs`), so no audio file ships. The two tones differ in pitch, rhythm and
//! length, not in pitch alone, so they can be told apart through a radio headset or by
//! someone who does not hear pitch well.

/// Which tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A routine message: one soft, short chime.
    Message,
    /// An urgent message or a reminder of one: three loud, quick, high beeps.
    Urgent,
}

/// One note of a tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// Pitch in hertz.
    pub frequency_hz: f32,
    /// Start, in ms after the tone starts.
    pub start_ms: f64,
    /// Length in ms (including a short fade in and out so it does not click).
    pub duration_ms: f64,
    /// Peak gain, 0–1 (Web Audio `GainNode.gain`).
    pub gain: f32,
    /// Square wave (harsher, cuts through) rather than sine.
    pub square: bool,
}

/// Fade in and out of every note, in ms (a hard edge is an audible click).
pub const FADE_MS: f64 = 12.0;

const MESSAGE: [Note; 2] = [
    Note {
        frequency_hz: 880.0,
        start_ms: 0.0,
        duration_ms: 120.0,
        gain: 0.25,
        square: false,
    },
    Note {
        frequency_hz: 1174.7,
        start_ms: 130.0,
        duration_ms: 160.0,
        gain: 0.25,
        square: false,
    },
];

const URGENT: [Note; 3] = [
    Note {
        frequency_hz: 1400.0,
        start_ms: 0.0,
        duration_ms: 140.0,
        gain: 0.4,
        square: true,
    },
    Note {
        frequency_hz: 1050.0,
        start_ms: 200.0,
        duration_ms: 140.0,
        gain: 0.4,
        square: true,
    },
    Note {
        frequency_hz: 1400.0,
        start_ms: 400.0,
        duration_ms: 260.0,
        gain: 0.4,
        square: true,
    },
];

impl Tone {
    /// The notes, in order.
    pub fn notes(self) -> &'static [Note] {
        match self {
            Tone::Message => &MESSAGE,
            Tone::Urgent => &URGENT,
        }
    }

    /// Total length in ms.
    pub fn duration_ms(self) -> f64 {
        self.notes()
            .iter()
            .map(|n| n.start_ms + n.duration_ms)
            .fold(0.0, f64::max)
    }
}

/// Whether the page may make sound. Browsers keep an `AudioContext` "suspended" until the
/// user has interacted with the page (Chrome's autoplay policy; Web Audio API,
/// `AudioContext.resume()`), so a tab reloaded in the background stays silent until clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioGate {
    /// Sound is off, or no context was made yet.
    Idle,
    /// The context runs: tones play.
    Running,
    /// The browser holds the context suspended until a click or key press in this tab.
    Blocked,
    /// No Web Audio here (or it failed to start).
    Unsupported,
}

impl AudioGate {
    /// The gate for an `AudioContext.state` ("running", "suspended", "closed"; Safari also
    /// has "interrupted"). Anything but running cannot play now.
    pub fn of_state(state: &str) -> AudioGate {
        match state {
            "running" => AudioGate::Running,
            "closed" => AudioGate::Unsupported,
            _ => AudioGate::Blocked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tones_are_short_distinct_and_not_too_loud() {
        for tone in [Tone::Message, Tone::Urgent] {
            assert!(
                tone.duration_ms() < 1_000.0,
                "{tone:?} is a cue, not a song"
            );
            for note in tone.notes() {
                assert!(note.gain > 0.0 && note.gain <= 0.5, "headroom: {note:?}");
                assert!(note.duration_ms > 2.0 * FADE_MS, "room to fade: {note:?}");
                assert!((200.0..4_000.0).contains(&note.frequency_hz));
            }
            let starts: Vec<f64> = tone.notes().iter().map(|n| n.start_ms).collect();
            assert!(starts.windows(2).all(|w| w[0] < w[1]), "in order");
        }
        assert_ne!(Tone::Message.notes().len(), Tone::Urgent.notes().len());
        assert!(Tone::Urgent.duration_ms() > Tone::Message.duration_ms());
        assert!(Tone::Urgent.notes().iter().all(|n| n.square));
        assert!(Tone::Message.notes().iter().all(|n| !n.square));
    }

    #[test]
    fn audio_context_states() {
        assert_eq!(AudioGate::of_state("running"), AudioGate::Running);
        assert_eq!(AudioGate::of_state("suspended"), AudioGate::Blocked);
        assert_eq!(AudioGate::of_state("interrupted"), AudioGate::Blocked);
        assert_eq!(AudioGate::of_state("closed"), AudioGate::Unsupported);
    }
}
