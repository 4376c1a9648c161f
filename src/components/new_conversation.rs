//! "New conversation": a dispatcher starts one with a medic of the org, a medic starts one
//! with the dispatch desk. The dialog asks for the medic (dispatchers only), the subject and
//! the first message; the server takes the org and the time from the token and its clock.

use leptos::html::Dialog;
use leptos::prelude::*;
use serde::Deserialize;

use crate::api::{ApiError, Priority};
use crate::cache::{use_query, QueryClient, QueryKey};
use crate::components::composer::{sendable, MAX_CHARS};
use crate::pages::fetch_error;
use crate::session::SessionService;

/// Longest subject the server accepts, in characters (after trimming).
pub const MAX_SUBJECT_CHARS: usize = 120;

/// The medics of the caller's org, for the dispatcher's choice (PostgREST `select`; the
/// row rules keep it to the caller's org).
const MEDICS_PATH: &str =
    "/rest/v1/users?select=id,display_name&role=eq.medic&order=display_name.asc";

/// A medic a dispatcher may start a conversation with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Medic {
    /// User id.
    pub id: String,
    /// Name shown.
    pub display_name: String,
}

/// A complete form: what goes to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The medic's user id.
    pub medic_id: String,
    /// Trimmed subject, 1 to [`MAX_SUBJECT_CHARS`] characters.
    pub subject: String,
    /// The first message, as typed.
    pub body: String,
}

/// Checks the form as the server would, so a bad one is refused here with the reason and
/// nothing typed is lost.
pub fn validate(medic_id: &str, subject: &str, body: &str) -> Result<Start, &'static str> {
    if medic_id.is_empty() {
        return Err("Choose the medic.");
    }
    let subject = subject.trim();
    if subject.is_empty() {
        return Err("Give a subject, e.g. the unit and incident.");
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err("The subject is longer than 120 characters.");
    }
    if !sendable(body) {
        return Err(if body.chars().count() > MAX_CHARS {
            "The message is longer than 4,000 characters."
        } else {
            "Write the first message."
        });
    }
    Ok(Start {
        medic_id: medic_id.to_string(),
        subject: subject.to_string(),
        body: body.to_string(),
    })
}

/// The ids one submit of the form goes out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// What was submitted.
    pub start: Start,
    /// The conversation's client-chosen id.
    pub conversation_id: String,
    /// The first message's client-chosen id.
    pub message_id: String,
}

/// The ids for submitting `start` after the `previous` submit (if any) failed somewhere: a
/// retry with the same medic and subject is the same conversation (its id again, so a
/// conversation stored before the failure is not started twice), and with the same words
/// too the same first message. Anything else is new: a taken id is read as "already
/// stored", so reusing one for another medic would send the message into their
/// conversation.
pub fn attempt_for(
    previous: Option<&Attempt>,
    start: &Start,
    mut fresh: impl FnMut() -> String,
) -> Attempt {
    let same_conversation =
        previous.filter(|p| p.start.medic_id == start.medic_id && p.start.subject == start.subject);
    let conversation_id = same_conversation.map_or_else(&mut fresh, |p| p.conversation_id.clone());
    let message_id = same_conversation
        .filter(|p| p.start.body == start.body)
        .map_or_else(&mut fresh, |p| p.message_id.clone());
    Attempt {
        start: start.clone(),
        conversation_id,
        message_id,
    }
}

/// A taken id on a retry means the first try was stored (hosted PostgREST answers 409
/// 23505 where the embedded server returns the row): it is this very row.
fn stored(result: Result<serde_json::Value, ApiError>) -> Result<(), ApiError> {
    match result {
        Err(e) if !e.is_duplicate_key() => Err(e),
        _ => Ok(()),
    }
}

/// The button and its dialog. `me` is the medic's own id when a medic uses it (they can
/// only name themselves), `None` for a dispatcher. `on_started` gets the new
/// conversation's id.
#[component]
pub fn NewConversation(
    me: Option<String>,
    #[prop(into)] on_started: UnsyncCallback<String>,
) -> impl IntoView {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    let dialog = NodeRef::<Dialog>::new();
    let open = RwSignal::new(false);
    let is_medic = me.is_some();
    let medics = use_query::<Vec<Medic>, _, _, _>(
        cache,
        move || (open.get() && !is_medic).then(|| QueryKey::new(["medics"])),
        move |_| async move {
            session
                .call(|b, t| async move { b.get(&t, MEDICS_PATH).await })
                .await
                .map_err(fetch_error)
        },
    );
    let medic = RwSignal::new(me.clone().unwrap_or_default());
    let subject = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    // The last submit's ids (see `attempt_for`): a retry after a lost answer cannot start a
    // second conversation or send the first message twice.
    let last = StoredValue::new(None::<Attempt>);
    let error = RwSignal::new(None::<String>);
    let starting = Action::new_unsync(move |start: &Start| {
        let attempt = last
            .try_update_value(|last| {
                let next = attempt_for(last.as_ref(), start, || uuid::Uuid::new_v4().to_string());
                *last = Some(next.clone());
                next
            })
            .unwrap_or_else(|| attempt_for(None, start, || uuid::Uuid::new_v4().to_string()));
        let Attempt {
            start,
            conversation_id,
            message_id,
        } = attempt;
        async move {
            let created = session
                .call(|b, t| {
                    let (c, s) = (conversation_id.clone(), start.clone());
                    async move { b.start_conversation(&t, &c, &s.medic_id, &s.subject).await }
                })
                .await;
            stored(created).map_err(|e| format!("Not started: {e}"))?;
            cache.invalidate(&QueryKey::conversations());
            let sent = session
                .call(|b, t| {
                    let (c, m, text) = (
                        conversation_id.clone(),
                        message_id.clone(),
                        start.body.clone(),
                    );
                    async move { b.send_message(&t, &m, &c, &text, Priority::Routine).await }
                })
                .await;
            stored(sent)
                .map_err(|e| format!("Started, but the first message was not sent: {e}"))?;
            Ok::<String, String>(conversation_id)
        }
    });
    Effect::new(move |_| match starting.value().get() {
        Some(Ok(conversation)) => {
            last.set_value(None);
            subject.set(String::new());
            body.set(String::new());
            error.set(None);
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
            open.set(false);
            on_started.run(conversation);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let show = move |_| {
        error.set(None);
        open.set(true);
        if let Some(d) = dialog.get_untracked() {
            let _ = d.show_modal();
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if starting.pending().get_untracked() {
            return;
        }
        let checked = validate(
            &medic.get_untracked(),
            &subject.get_untracked(),
            &body.get_untracked(),
        );
        match checked {
            Ok(start) => {
                error.set(None);
                starting.dispatch(start);
            }
            Err(reason) => error.set(Some(reason.to_string())),
        }
    };
    let medic_choice = (!is_medic).then(|| {
        view! {
            <label>"Medic"
                <select data-testid="new-conversation-medic" required
                    on:change=move |ev| medic.set(event_target_value(&ev))
                    prop:value=move || medic.get()>
                    <option value="">{move || if medics.data.with(Option::is_none) { "Loading medics…" } else { "Choose a medic" }}</option>
                    <For each=move || medics.data.get().unwrap_or_default() key=|m| m.id.clone() let:m>
                        <option value=m.id.clone()>{m.display_name.clone()}</option>
                    </For>
                </select>
            </label>
        }
    });
    view! {
        <button type="button" class="new-conversation" data-testid="new-conversation" on:click=show
            aria-haspopup="dialog">{if is_medic { "Message dispatch" } else { "New conversation" }}</button>
        <dialog class="new-conversation-dialog" node_ref=dialog aria-labelledby="new-conversation-title"
            on:close=move |_| open.set(false)>
            <form data-testid="new-conversation-form" on:submit=submit>
                <h2 id="new-conversation-title">{if is_medic { "New conversation with dispatch" } else { "New conversation" }}</h2>
                {medic_choice}
                <label>"Subject"
                    <input type="text" data-testid="new-conversation-subject" maxlength="120" required
                        placeholder="Unit and incident, e.g. Medic 6 · Inc 26-0412"
                        prop:value=move || subject.get() on:input=move |ev| subject.set(event_target_value(&ev)) />
                </label>
                <label>"First message"
                    <textarea data-testid="new-conversation-body" rows="3" required
                        prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                </label>
                <Show when=move || error.with(Option::is_some)>
                    <p class="form-error" role="alert" data-testid="new-conversation-error">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <div class="dialog-actions">
                    <button type="button" on:click=move |_| {
                        if let Some(d) = dialog.get_untracked() {
                            d.close();
                        }
                    }>"Cancel"</button>
                    <button type="submit" data-testid="new-conversation-start" disabled=move || starting.pending().get()>
                        {move || if starting.pending().get() { "Starting…" } else { "Start" }}
                    </button>
                </div>
            </form>
        </dialog>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_form_is_trimmed_and_kept() {
        assert_eq!(
            validate("m1", "  Medic 6 · Inc 26-0412 ", "On scene"),
            Ok(Start {
                medic_id: "m1".into(),
                subject: "Medic 6 · Inc 26-0412".into(),
                body: "On scene".into(),
            })
        );
    }

    #[test]
    fn each_missing_or_oversized_part_is_named() {
        assert_eq!(validate("", "s", "b"), Err("Choose the medic."));
        assert!(validate("m1", "   ", "b")
            .unwrap_err()
            .starts_with("Give a subject"));
        // 120 characters (not bytes) is the limit: "·" is two bytes.
        assert!(validate("m1", &"·".repeat(120), "b").is_ok());
        assert!(validate("m1", &"·".repeat(121), "b").is_err());
        assert_eq!(validate("m1", "s", " \n"), Err("Write the first message."));
        assert!(validate("m1", "s", &"x".repeat(4001))
            .unwrap_err()
            .contains("4,000"));
    }

    fn start(medic: &str, subject: &str, body: &str) -> Start {
        Start {
            medic_id: medic.into(),
            subject: subject.into(),
            body: body.into(),
        }
    }

    #[test]
    fn a_retry_of_the_same_form_reuses_its_ids_and_anything_else_is_new() {
        let mut n = 0;
        let mut fresh = || {
            n += 1;
            format!("id{n}")
        };
        let first = attempt_for(None, &start("jordan", "Inc 1", "hi"), &mut fresh);
        assert_eq!(
            (first.conversation_id.as_str(), first.message_id.as_str()),
            ("id1", "id2")
        );
        let again = attempt_for(Some(&first), &start("jordan", "Inc 1", "hi"), &mut fresh);
        assert_eq!(again, first);
        // Edited words: the same conversation, another message.
        let edited = attempt_for(Some(&first), &start("jordan", "Inc 1", "hello"), &mut fresh);
        assert_eq!(edited.conversation_id, "id1");
        assert_eq!(edited.message_id, "id3");
        // Another medic (or subject) is another conversation: never the first one's id,
        // which the server would answer as "already stored" and the message would go to
        // Jordan.
        let other = attempt_for(Some(&first), &start("priya", "Inc 1", "hi"), &mut fresh);
        assert_eq!(
            (other.conversation_id.as_str(), other.message_id.as_str()),
            ("id4", "id5")
        );
        let resubject = attempt_for(Some(&first), &start("jordan", "Inc 2", "hi"), &mut fresh);
        assert_ne!(resubject.conversation_id, "id1");
    }
}
