//! The header's theme switch: light, dark, or the device's setting (rules in `crate::theme`).

use leptos::prelude::*;

use crate::theme::{Theme, ATTRIBUTE, STORAGE_KEY};

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// The remembered choice; [`Theme::System`] when there is none or storage is unavailable
/// (private mode, disabled storage).
pub fn stored_theme() -> Theme {
    let value = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    Theme::from_stored(value.as_deref())
}

/// Puts `theme` on the document: sets or removes `data-theme` on `<html>`, which the
/// stylesheet's theme blocks select on.
pub fn apply(theme: Theme) {
    let Some(root) = document().document_element() else {
        return;
    };
    let _ = match theme.attribute() {
        Some(value) => root.set_attribute(ATTRIBUTE, value),
        None => root.remove_attribute(ATTRIBUTE),
    };
}

/// One button cycling light → dark → system, remembered in `localStorage` (shared by the
/// origin's tabs, which follow a change made in another one). Its accessible name says the
/// current choice ("Theme: system"); on a phone only the symbol shows.
///
/// Test hook: `theme-toggle`, with `data-theme-choice` `light`|`dark`|`system`.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(stored_theme());
    // The inline script in index.html normally did this before first paint.
    apply(theme.get_untracked());
    // Fires in every other tab of the origin; no key means storage was cleared.
    let other_tabs = window_event_listener(leptos::ev::storage, move |ev| {
        if ev.key().is_none_or(|k| k == STORAGE_KEY) {
            let now = stored_theme();
            theme.set(now);
            apply(now);
        }
    });
    on_cleanup(move || other_tabs.remove());
    let choose_next = move |_| {
        let next = theme.get_untracked().next();
        if let Some(s) = storage() {
            let _ = s.set_item(STORAGE_KEY, next.stored());
        }
        theme.set(next);
        apply(next);
    };
    view! {
        <button type="button" class="theme-toggle" data-testid="theme-toggle"
            data-theme-choice=move || theme.get().stored()
            aria-label=move || theme.get().label()
            title=move || theme.get().hint()
            on:click=choose_next>
            <span class="theme-icon" aria-hidden="true">{move || theme.get().icon()}</span>
            <span class="theme-name">{move || theme.get().name()}</span>
        </button>
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests {
    //! The switch in headless Chromium, with the real stylesheet loaded so the theme blocks'
    //! selectors are exercised, not only the attribute.

    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::*;

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    async fn settle() {
        gloo_timers::future::TimeoutFuture::new(30).await;
    }

    fn root() -> web_sys::Element {
        document().document_element().expect("<html>")
    }

    fn stored() -> Option<String> {
        storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
    }

    /// The `--bg` the document resolves now: which theme block applies.
    fn background() -> String {
        let style = window()
            .get_computed_style(&root())
            .ok()
            .flatten()
            .expect("computed style");
        style
            .get_property_value("--bg")
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Loads the app's stylesheet; other tests share this page, so it is removed after.
    fn load_stylesheet() -> web_sys::Element {
        let style = document().create_element("style").expect("style");
        style.set_text_content(Some(include_str!("../../style/main.css")));
        document()
            .head()
            .expect("head")
            .append_child(&style)
            .expect("append");
        style
    }

    /// A fresh toggle in the page; dropping the handle unmounts it.
    fn mount() -> (web_sys::HtmlElement, impl Sized) {
        let host = document()
            .create_element("div")
            .expect("div")
            .unchecked_into::<web_sys::HtmlElement>();
        document()
            .body()
            .expect("body")
            .append_child(&host)
            .expect("append");
        let handle = leptos::mount::mount_to(host.clone(), || view! { <ThemeToggle/> }.into_any());
        (host, handle)
    }

    fn button(host: &web_sys::HtmlElement) -> web_sys::HtmlElement {
        host.query_selector("[data-testid=theme-toggle]")
            .ok()
            .flatten()
            .expect("theme-toggle")
            .unchecked_into()
    }

    fn label(host: &web_sys::HtmlElement) -> String {
        button(host).get_attribute("aria-label").unwrap_or_default()
    }

    fn reset() {
        if let Some(s) = storage() {
            let _ = s.remove_item(STORAGE_KEY);
        }
        let _ = root().remove_attribute(ATTRIBUTE);
    }

    #[wasm_bindgen_test]
    async fn cycling_sets_and_removes_data_theme_and_remembers_the_choice() {
        reset();
        let stylesheet = load_stylesheet();
        let device_dark = window()
            .match_media("(prefers-color-scheme: dark)")
            .ok()
            .flatten()
            .is_some_and(|m| m.matches());
        let (light_bg, dark_bg) = ("#f4f6f9", "#0f1620");
        let system_bg = if device_dark { dark_bg } else { light_bg };

        let (host, handle) = mount();
        settle().await;
        assert_eq!(label(&host), "Theme: system");
        assert_eq!(root().get_attribute(ATTRIBUTE), None);
        assert_eq!(background(), system_bg);

        let steps = [
            ("Theme: light", Some("light"), "light", light_bg),
            ("Theme: dark", Some("dark"), "dark", dark_bg),
            ("Theme: system", None, "system", system_bg),
        ];
        for (want_label, attribute, want_stored, bg) in steps {
            button(&host).click();
            settle().await;
            assert_eq!(label(&host), want_label);
            assert_eq!(
                root().get_attribute(ATTRIBUTE).as_deref(),
                attribute,
                "{want_label}"
            );
            assert_eq!(stored().as_deref(), Some(want_stored), "{want_label}");
            assert_eq!(background(), bg, "{want_label}");
        }
        drop(handle);
        host.remove();
        stylesheet.remove();
        reset();
    }

    #[wasm_bindgen_test]
    async fn a_stored_choice_applies_on_mount_and_follows_other_tabs() {
        reset();
        if let Some(s) = storage() {
            let _ = s.set_item(STORAGE_KEY, "dark");
        }
        let (host, handle) = mount();
        settle().await;
        assert_eq!(label(&host), "Theme: dark");
        assert_eq!(root().get_attribute(ATTRIBUTE).as_deref(), Some("dark"));

        // Another tab picks light: the browser fires `storage` here after its write.
        if let Some(s) = storage() {
            let _ = s.set_item(STORAGE_KEY, "light");
        }
        let event = js_sys::Function::new_no_args(
            "window.dispatchEvent(new StorageEvent('storage', \
             {key: 'switchboard.theme', newValue: 'light'}))",
        );
        event.call0(&wasm_bindgen::JsValue::NULL).expect("dispatch");
        settle().await;
        assert_eq!(label(&host), "Theme: light");
        assert_eq!(root().get_attribute(ATTRIBUTE).as_deref(), Some("light"));
        drop(handle);
        host.remove();

        // A value this build does not know is the device's setting, not an error.
        if let Some(s) = storage() {
            let _ = s.set_item(STORAGE_KEY, "sepia");
        }
        let (host, handle) = mount();
        settle().await;
        assert_eq!(label(&host), "Theme: system");
        assert_eq!(root().get_attribute(ATTRIBUTE), None);
        drop(handle);
        host.remove();
        reset();
    }
}
