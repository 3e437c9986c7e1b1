//! What differs between the desktop app and a browser: where settings and the refresh token
//! are kept, how files are opened and saved, and the window title.
//!
//! In the desktop app (Tauri) these go through its commands: native dialogs, a settings file in
//! the app's config directory. In a browser they fall back to `localStorage`, `sessionStorage`,
//! `<input type=file>` and a download link.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub use dhis2gw_wire::console::{Settings, normalise_gateway};

/// Whether passwords and data to `gateway` would cross a network unencrypted: a plain
/// `http://` address that is not this computer.
pub fn unencrypted_over_network(gateway: &str) -> bool {
    let gateway = normalise_gateway(gateway).to_ascii_lowercase();
    let Some(rest) = gateway.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    !(host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") || host == "::1")
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "core"], js_name = invoke)]
    async fn tauri_invoke(command: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

/// Running inside the desktop app.
pub fn in_desktop() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &JsValue::from_str("__TAURI__")).ok())
        .is_some_and(|t| !t.is_undefined())
}

async fn invoke<T: for<'de> Deserialize<'de>>(command: &str, args: &impl Serialize) -> Result<T, String> {
    let args = serde_wasm(args)?;
    let value = tauri_invoke(command, args).await.map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))?;
    let json = js_sys::JSON::stringify(&value).map_err(|_| "unreadable answer".to_string())?;
    serde_json::from_str(&String::from(json)).map_err(|e| e.to_string())
}

fn serde_wasm(value: &impl Serialize) -> Result<JsValue, String> {
    let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
    js_sys::JSON::parse(&json).map_err(|_| "cannot encode arguments".to_string())
}

const SETTINGS_KEY: &str = "dhis2gw.console.settings";
const REFRESH_KEY: &str = "dhis2gw.console.refresh";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The remembered settings (defaults when there are none or they cannot be read).
pub async fn load_settings() -> Settings {
    if in_desktop() {
        return invoke("load_settings", &()).await.unwrap_or_default();
    }
    let mut settings: Settings = local_storage()
        .and_then(|s| s.get_item(SETTINGS_KEY).ok()?)
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    if let Some(tokens) =
        session_storage().and_then(|s| s.get_item(REFRESH_KEY).ok()?).and_then(|json| serde_json::from_str(&json).ok())
    {
        settings.refresh_tokens = tokens;
    }
    settings
}

thread_local! {
    static SETTINGS: std::cell::RefCell<Settings> = std::cell::RefCell::new(Settings::default());
}

/// The settings as last loaded or changed.
pub fn settings() -> Settings {
    SETTINGS.with(|s| s.borrow().clone())
}

/// Makes `settings` current (after loading them at start).
pub fn adopt_settings(settings: Settings) {
    SETTINGS.with(|s| *s.borrow_mut() = settings);
}

/// Changes the settings and saves them in the background.
pub fn update_settings(change: impl FnOnce(&mut Settings)) {
    let settings = SETTINGS.with(|s| {
        let mut s = s.borrow_mut();
        change(&mut s);
        s.clone()
    });
    leptos::task::spawn_local(async move {
        if in_desktop() {
            #[derive(Serialize)]
            struct Args {
                settings: Settings,
            }
            let _: Result<(), String> = invoke("save_settings", &Args { settings }).await;
        } else {
            let (tokens, mut rest) = (settings.refresh_tokens.clone(), settings);
            rest.refresh_tokens.clear();
            if let (Some(storage), Ok(json)) = (local_storage(), serde_json::to_string(&rest)) {
                let _ = storage.set_item(SETTINGS_KEY, &json);
            }
            if let (Some(storage), Ok(json)) = (session_storage(), serde_json::to_string(&tokens)) {
                let _ = storage.set_item(REFRESH_KEY, &json);
            }
        }
    });
}

/// Keeps (or with `None` forgets) the refresh token for a gateway.
pub fn remember_refresh_token(gateway: &str, token: Option<&str>) {
    let gateway = normalise_gateway(gateway);
    update_settings(|s| match token {
        Some(t) => {
            s.refresh_tokens.insert(gateway, t.to_string());
        }
        None => {
            s.refresh_tokens.remove(&gateway);
        }
    });
}

/// A file the user picked or dropped.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PickedFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Asks the desktop app for a file through the native open dialog; `None` when cancelled.
pub async fn open_native(extensions: &[&str]) -> Result<Option<PickedFile>, String> {
    #[derive(Serialize)]
    struct Args<'a> {
        extensions: &'a [&'a str],
    }
    invoke("open_file", &Args { extensions }).await
}

/// Reads a browser `File` (from a drop or `<input type=file>`).
pub async fn read_file(file: &web_sys::File) -> Result<PickedFile, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(|_| format!("cannot read {}", file.name()))?;
    Ok(PickedFile { name: file.name(), bytes: js_sys::Uint8Array::new(&buffer).to_vec() })
}

/// Saves bytes: the native save dialog in the desktop app (returns the path chosen, `None` if
/// cancelled), a download in a browser.
pub async fn save(name: &str, bytes: &[u8]) -> Result<Option<String>, String> {
    if in_desktop() {
        #[derive(Serialize)]
        struct Args<'a> {
            name: &'a str,
            bytes: &'a [u8],
        }
        return invoke("save_file", &Args { name, bytes }).await;
    }
    let url = web_sys::Url::create_object_url_with_blob(&blob(bytes, "application/octet-stream"))
        .map_err(|_| "cannot prepare the download".to_string())?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| "no link")?.dyn_into().map_err(|_| "no link")?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    // Revoked later: the browser reads the blob after the click returns.
    leptos::prelude::set_timeout(
        move || drop(web_sys::Url::revoke_object_url(&url)),
        std::time::Duration::from_secs(60),
    );
    Ok(Some(name.to_string()))
}

/// Sets the window title (the desktop window's, or the browser tab's).
pub fn set_title(title: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(title);
    }
    if in_desktop() {
        #[derive(Serialize)]
        struct Args<'a> {
            title: &'a str,
        }
        let title = title.to_string();
        leptos::task::spawn_local(async move {
            let _: Result<(), String> = invoke("set_title", &Args { title: &title }).await;
        });
    }
}

/// Copies text to the clipboard.
pub async fn copy(text: &str) -> bool {
    let Some(window) = web_sys::window() else { return false };
    JsFuture::from(window.navigator().clipboard().write_text(text)).await.is_ok()
}

/// A Blob holding `bytes`.
pub fn blob(bytes: &[u8], mime: &str) -> web_sys::Blob {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).expect("a Blob from bytes")
}

/// Where the console was loaded from, when that is a gateway (the browser console at `/console/`).
pub fn serving_gateway() -> Option<String> {
    let location = web_sys::window()?.location();
    let path = location.pathname().ok()?;
    let origin = location.origin().ok()?;
    (path.starts_with("/console") && origin.starts_with("http")).then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn plain_http_is_flagged_unless_the_gateway_is_this_computer() {
        for unencrypted in ["gw.example.org:9090", "http://10.0.0.5", "http://gw.example.org/console/", "HTTP://Gw.Org"]
        {
            assert!(unencrypted_over_network(unencrypted), "{unencrypted}");
        }
        for safe in [
            "https://gw.example.org",
            "localhost:9090",
            "http://127.0.0.1:9090",
            "http://[::1]:9090",
            "http://app.localhost",
        ] {
            assert!(!unencrypted_over_network(safe), "{safe}");
        }
    }

    #[wasm_bindgen_test]
    fn gateway_addresses_are_normalised_and_remembered_most_recent_first() {
        assert_eq!(normalise_gateway(" gw.example.org:9090/ "), "http://gw.example.org:9090");
        assert_eq!(normalise_gateway("https://gw.example.org/console/"), "https://gw.example.org");
        let mut s = Settings::default();
        s.remember_gateway("http://a");
        s.remember_gateway("http://b/");
        s.remember_gateway("a");
        assert_eq!(s.gateways, vec!["http://a", "http://b"]);
    }
}
