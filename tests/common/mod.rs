//! What the browser component tests share: a fresh mount point with the test stylesheet,
//! waiting for effects to settle, and DOM queries that fail the test by name.

#![allow(dead_code)] // Each test file uses its own subset.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// A new element in the body to mount into; the stylesheet gives the thread a real 200 px
/// scroll container and every row a fixed height.
pub fn fresh_root() -> web_sys::HtmlElement {
    let doc = document();
    if doc.get_element_by_id("test-style").is_none() {
        let style = doc.create_element("style").unwrap();
        style.set_id("test-style");
        style.set_text_content(Some(
            ".message-thread{height:200px;overflow-y:auto;display:block} .message{height:40px;margin:0;overflow:hidden} .day-separator{height:20px} .unread-divider{height:10px}",
        ));
        doc.head().unwrap().append_child(&style).unwrap();
    }
    let root = doc
        .create_element("div")
        .unwrap()
        .unchecked_into::<web_sys::HtmlElement>();
    doc.body().unwrap().append_child(&root).unwrap();
    root
}

/// Lets effects, renders and animation frames run.
pub async fn settle() {
    gloo_timers::future::TimeoutFuture::new(80).await;
}

/// The first element under `root` matching `css`; fails the test if there is none.
pub fn q(root: &web_sys::HtmlElement, css: &str) -> web_sys::Element {
    root.query_selector(css)
        .unwrap()
        .unwrap_or_else(|| panic!("no {css}"))
}

/// Every element under `root` matching `css`.
pub fn all(root: &web_sys::HtmlElement, css: &str) -> Vec<web_sys::Element> {
    let list = root.query_selector_all(css).unwrap();
    (0..list.length())
        .map(|i| list.item(i).unwrap().unchecked_into())
        .collect()
}

/// How far a scroll container is from its bottom (px).
pub fn distance(el: &web_sys::Element) -> i32 {
    el.scroll_height() - el.scroll_top() - el.client_height()
}
