//! The dhis2gw console as a desktop app: the console (ui/dist, embedded) in a native window, plus
//! what a browser cannot do — native open and save dialogs, and settings (remembered gateways,
//! the session's refresh token) kept in the app's config directory.

// No console window next to the app on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;

use dhis2gw_wire::console::Settings;
use serde::Serialize;
use tauri::{AppHandle, Manager, WebviewWindow};
use tauri_plugin_dialog::DialogExt;

mod settings;

/// A file chosen in the open dialog, as the console's import reads it.
#[derive(Serialize)]
struct PickedFile {
    name: String,
    bytes: Vec<u8>,
}

fn settings_path(app: &AppHandle) -> Result<PathBuf, String> {
    let dir = app.path().app_config_dir().map_err(|e| format!("no config directory: {e}"))?;
    Ok(dir.join(settings::FILE_NAME))
}

#[tauri::command]
fn load_settings(app: AppHandle) -> Settings {
    let saved = settings_path(&app).map(|p| settings::load(&p)).unwrap_or_default();
    settings::with_default_gateway(saved, std::env::var("DHIS2GW_GATEWAY").ok())
}

#[tauri::command]
fn save_settings(app: AppHandle, settings: Settings) -> Result<(), String> {
    settings::save(&settings_path(&app)?, &settings)
}

/// The open dialog's title (the desktop end-to-end test finds the dialog by it).
const OPEN_TITLE: &str = "Import mappings";

/// The native open dialog, filtered to `extensions`; `None` when cancelled.
#[tauri::command]
async fn open_file(app: AppHandle, extensions: Vec<String>) -> Result<Option<PickedFile>, String> {
    blocking(move || {
        let extensions: Vec<&str> = extensions.iter().map(String::as_str).collect();
        let dialog = app.dialog().file().set_title(OPEN_TITLE).add_filter("Mapping spreadsheets", &extensions);
        let Some(chosen) = dialog.blocking_pick_file() else { return Ok(None) };
        let path = chosen.into_path().map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Some(PickedFile { name, bytes }))
    })
    .await
}

/// The native save dialog, suggesting `name`; writes `bytes` there and returns the path, or
/// `None` when cancelled.
#[tauri::command]
async fn save_file(app: AppHandle, name: String, bytes: Vec<u8>) -> Result<Option<String>, String> {
    blocking(move || {
        let Some(chosen) = app.dialog().file().set_file_name(&name).blocking_save_file() else { return Ok(None) };
        let path = chosen.into_path().map_err(|e| e.to_string())?;
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Some(path.display().to_string()))
    })
    .await
}

/// Runs a dialog that waits for the user, and the file I/O after it, on the blocking pool
/// rather than on one of the async runtime's few workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| e.to_string())?
}

/// The window title names the connected gateway.
#[tauri::command]
fn set_title(window: WebviewWindow, title: String) -> Result<(), String> {
    window.set_title(&title).map_err(|e| e.to_string())
}

fn main() {
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![load_settings, save_settings, open_file, save_file, set_title])
        .run(tauri::generate_context!())
        .expect("the console window opens");
}
