//! Pieces every screen uses: loading state, errors, status badges, paging, confirmations and
//! notices.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use leptos::prelude::*;

use crate::api::{self, ApiError, ApiResult};
use crate::endpoints;
use crate::format;
use crate::platform::{self, PickedFile};
use crate::session::Session;

/// Where a screen's data stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Load<T> {
    Loading,
    Ready(T),
    Failed(ApiError),
}

impl<T> Load<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Load::Ready(t) => Some(t),
            _ => None,
        }
    }
}

impl<T> From<ApiResult<T>> for Load<T> {
    fn from(r: ApiResult<T>) -> Self {
        match r {
            Ok(t) => Load::Ready(t),
            Err(e) => Load::Failed(e),
        }
    }
}

thread_local! {
    /// The newest load started into each target (by the target's hash), so an answer that
    /// arrives after a newer one was asked for is dropped.
    static NEWEST_LOAD: RefCell<HashMap<u64, u64>> = RefCell::new(HashMap::new());
}

/// Loads into `target`. While reloading, what is shown stays (no flicker on auto-refresh);
/// a failure replaces it, so a stale table never passes for a current one. Only the newest
/// load counts: a slow answer to an older request (the page before a filter changed) never
/// overwrites the answer to the current one.
pub fn load_into<T: Send + Sync + 'static>(
    target: RwSignal<Load<T>>,
    future: impl Future<Output = ApiResult<T>> + 'static,
) {
    let key = {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        target.hash(&mut hasher);
        hasher.finish()
    };
    let load = NEWEST_LOAD.with(|n| {
        let mut newest = n.borrow_mut();
        let next = newest.get(&key).map_or(0, |l| l + 1);
        newest.insert(key, next);
        next
    });
    crate::api::spawn(future, move |result| {
        let newest = NEWEST_LOAD.with(|n| n.borrow().get(&key) == Some(&load));
        if newest && !target.is_disposed() {
            target.set(result.into());
        }
    });
}

/// Shows a [`Load`]: a spinner, the error, or `view` of the data.
#[component]
pub fn Loaded<T, V, F>(state: RwSignal<Load<T>>, view: F) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    move || match state.get() {
        Load::Loading => view! { <p class="muted" role="status">"Loading…"</p> }.into_any(),
        Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
        Load::Ready(t) => view(t).into_any(),
    }
}

#[component]
pub fn ErrorNote(error: ApiError) -> impl IntoView {
    let detail = error.detail.clone();
    view! {
        <div class="error" role="alert">
            <strong>{error.message.clone()}</strong>
            <Show when=move || !detail.is_empty()>
                <ul>{error.detail.iter().map(|d| view! { <li>{d.clone()}</li> }).collect_view()}</ul>
            </Show>
        </div>
    }
}

/// The spreadsheet files the console uploads (mappings, data values).
pub const SPREADSHEETS: [&str; 4] = ["csv", "xlsx", "xls", "ods"];

/// Whether a file's name says it is a spreadsheet the gateway reads.
pub fn is_spreadsheet(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SPREADSHEETS.iter().any(|extension| lower.ends_with(&format!(".{extension}")))
}

/// "choose a file…" for a spreadsheet: the native dialog in the desktop app, the browser's
/// file input elsewhere.
#[component]
pub fn FileChooser(
    button_id: &'static str,
    input_id: &'static str,
    on_file: Callback<PickedFile>,
    on_error: Callback<String>,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let open = move |_| {
        if platform::in_desktop() {
            api::spawn(platform::open_native(&SPREADSHEETS), move |r| match r {
                Ok(Some(file)) => on_file.run(file),
                Ok(None) => {}
                Err(e) => on_error.run(e),
            });
        } else if let Some(input) = input.get() {
            input.click();
        }
    };
    let picked = move |_| {
        let file = input.get().and_then(|i| i.files()).and_then(|f| f.get(0));
        if let Some(file) = file {
            api::spawn(async move { platform::read_file(&file).await }, move |r| match r {
                Ok(file) => on_file.run(file),
                Err(e) => on_error.run(e),
            });
        }
        if let Some(i) = input.get() {
            i.set_value("");
        }
    };
    view! {
        <button id=button_id on:click=open>"choose a file…"</button>
        <input id=input_id type="file" accept=".csv,.xlsx,.xls,.ods" class="hidden" node_ref=input on:change=picked/>
    }
}

/// The file dropped on a screen, read; nothing when the drop held none.
pub fn read_dropped(ev: &leptos::ev::DragEvent, done: impl FnOnce(Result<PickedFile, String>) + 'static) {
    let file = ev.data_transfer().and_then(|dt| dt.files()).and_then(|files| files.get(0));
    if let Some(file) = file {
        api::spawn(async move { platform::read_file(&file).await }, done);
    }
}

#[component]
pub fn Empty(#[prop(into)] text: String) -> impl IntoView {
    view! { <p class="empty">{text}</p> }
}

#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let label = format::status_label(&status);
    view! { <span class=format!("badge status-{status}") title=status.clone()>{label}</span> }
}

/// What became of a value, as a badge.
#[component]
pub fn OutcomeBadge(#[prop(into)] outcome: String) -> impl IntoView {
    view! { <span class=format!("badge status-{}", format::outcome_badge(&outcome))>{format::outcome_label(&outcome)}</span> }
}

/// A value-outcome table's last cell: what went wrong and who must act, DHIS2's code after it.
#[component]
pub fn WhyNotStored(v: dhis2gw_wire::ValueOutcome) -> impl IntoView {
    view! {
        <td class="sentence">
            {v.sentence.or(v.message).unwrap_or_default()}
            {v.error_code.map(|c| view! { <span class="muted mono">{format!(" ({c})")}</span> })}
        </td>
    }
}

pub const PAGE_SIZES: [i64; 4] = [10, 25, 50, 100];

/// Previous/next, "page x of y", and the page size; "about" when the total is an estimate.
#[component]
pub fn Pager(
    page: RwSignal<i64>,
    page_size: RwSignal<i64>,
    total: Signal<i64>,
    #[prop(optional, into)] estimate: Signal<bool>,
) -> impl IntoView {
    let pages = move || (total.get() + page_size.get() - 1).max(0) / page_size.get().max(1);
    // Rows deleted or filtered away: stay on the last page there is, not past it.
    Effect::new(move |_| {
        let last = pages();
        if last > 0 && page.get() > last {
            page.set(last);
        }
    });
    view! {
        <nav class="pager" aria-label="pages">
            <button on:click=move |_| page.update(|p| *p = (*p - 1).max(1)) disabled={move || page.get() <= 1}>
                "‹ Previous"
            </button>
            <span>
                {move || {
                    let about = if estimate.get() { "about " } else { "" };
                    let rows = format::plural(total.get(), "row", "rows");
                    format!("Page {} of {about}{} · {about}{rows}", page.get(), pages().max(1))
                }}
            </span>
            <button on:click=move |_| page.update(|p| *p += 1) disabled={move || page.get() >= pages()}>
                "Next ›"
            </button>
            <label>
                "Rows per page "
                <select on:change=move |ev| {
                    page_size.set(event_target_value(&ev).parse().unwrap_or(25));
                    page.set(1);
                }>
                    {PAGE_SIZES
                        .iter()
                        .map(|n| {
                            let n = *n;
                            view! { <option value=n selected=move || page_size.get() == n>{n}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
        </nav>
    }
}

/// A question the user must answer before something irreversible or large happens.
#[derive(Clone)]
pub struct Confirm {
    pub title: String,
    pub body: String,
    pub action: String,
    pub danger: bool,
    pub on_confirm: Callback<()>,
}

/// The app-wide confirmation and notice areas, shared through context.
#[derive(Clone, Copy)]
pub struct Dialogs {
    pub confirm: RwSignal<Option<Confirm>>,
    pub notices: RwSignal<Vec<(u64, String, bool)>>,
}

impl Dialogs {
    pub fn new() -> Self {
        Dialogs { confirm: RwSignal::new(None), notices: RwSignal::new(Vec::new()) }
    }

    pub fn ask(
        &self,
        title: impl Into<String>,
        body: impl Into<String>,
        action: impl Into<String>,
        danger: bool,
        on_confirm: impl Fn() + Send + Sync + 'static,
    ) {
        self.confirm.set(Some(Confirm {
            title: title.into(),
            body: body.into(),
            action: action.into(),
            danger,
            on_confirm: Callback::new(move |()| on_confirm()),
        }));
    }

    /// A notice that fades after eight seconds; `error` ones are shown in red.
    pub fn notify(&self, text: impl Into<String>, error: bool) {
        let id = js_sys::Date::now() as u64;
        let notices = self.notices;
        notices.update(|n| n.push((id, text.into(), error)));
        set_timeout(move || notices.update(|n| n.retain(|(i, ..)| *i != id)), Duration::from_secs(8));
    }

    /// Reports the outcome of an action.
    pub fn outcome<T>(&self, result: &ApiResult<T>, success: impl Into<String>) {
        match result {
            Ok(_) => self.notify(success, false),
            Err(e) => self.notify(e.to_string(), true),
        }
    }
}

impl Default for Dialogs {
    fn default() -> Self {
        Self::new()
    }
}

pub fn dialogs() -> Dialogs {
    expect_context::<Dialogs>()
}

/// Fetches a file from the gateway and saves it where the user chooses, then says where (or
/// why not).
pub fn save_download(download: futures::future::LocalBoxFuture<'static, ApiResult<(String, Vec<u8>)>>) {
    let d = dialogs();
    api::spawn(
        async move {
            let (name, bytes) = download.await.map_err(|e| e.to_string())?;
            crate::platform::save(&name, &bytes).await
        },
        move |r| match r {
            Ok(Some(path)) => d.notify(format!("Saved {path}"), false),
            Ok(None) => {}
            Err(e) => d.notify(e, true),
        },
    );
}

/// Renders the pending confirmation, if any, as a modal dialog (Escape cancels).
#[component]
pub fn ConfirmHost() -> impl IntoView {
    let d = dialogs();
    let action = NodeRef::<leptos::html::Button>::new();
    // Keyboard users land on the answer (Enter confirms, Escape cancels).
    Effect::new(move |_| {
        if let Some(button) = action.get() {
            let _ = button.focus();
        }
    });
    move || {
        d.confirm.get().map(|c| {
            let confirm = c.on_confirm;
            view! {
                <div class="modal-backdrop" on:keydown=move |ev| if ev.key() == "Escape" { d.confirm.set(None) }>
                    <div class="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
                        <h2 id="confirm-title">{c.title.clone()}</h2>
                        <p>{c.body.clone()}</p>
                        <div class="actions">
                            <button on:click=move |_| d.confirm.set(None)>"Cancel"</button>
                            <button
                                id="confirm-action"
                                class=if c.danger { "danger" } else { "primary" }
                                node_ref=action
                                on:click=move |_| {
                                    d.confirm.set(None);
                                    confirm.run(());
                                }
                            >
                                {c.action.clone()}
                            </button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

#[component]
pub fn NoticeHost() -> impl IntoView {
    let d = dialogs();
    view! {
        <div class="notices" aria-live="polite">
            {move || {
                d.notices
                    .get()
                    .into_iter()
                    .map(|(_, text, error)| view! { <div class=if error { "notice error" } else { "notice" }>{text}</div> })
                    .collect_view()
            }}
        </div>
    }
}

/// A DHIS2 object shown by its name, with the UID on hover (and in `data-uid`, for copying);
/// just the UID when no name is known.
#[component]
pub fn Named(
    name: Option<String>,
    #[prop(into)] uid: String,
    #[prop(optional, into)] hint: Option<String>,
) -> impl IntoView {
    let title = match &hint {
        Some(hint) => format!("{hint} · {uid}"),
        None => uid.clone(),
    };
    match name {
        Some(name) => view! { <span class="named" title=title data-uid=uid>{name}</span> }.into_any(),
        None => view! { <span class="mono" data-uid=uid.clone()>{uid.clone()}</span> }.into_any(),
    }
}

/// One choice a [`Picker`] offers: the UID it fills in, and what the user reads (the name,
/// then any code in brackets and detail after a `·`).
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub uid: String,
    pub label: String,
}

impl Choice {
    /// Whether `typed` is this choice's name (or whole label), in any case.
    pub fn is_named(&self, typed: &str) -> bool {
        let typed = typed.trim().to_lowercase();
        let label = self.label.to_lowercase();
        !typed.is_empty()
            && (label == typed || label.starts_with(&format!("{typed} [")) || label.starts_with(&format!("{typed} ·")))
    }
}

/// A text box that searches by name or code as the user types and fills in the UID of what is
/// picked; it also takes a UID typed or pasted as it is. `search` answers the choices for
/// what was typed; the name of the current value is shown beside the box.
#[component]
pub fn Picker<F, Fut>(
    #[prop(into)] id: String,
    value: Signal<String>,
    on_pick: Callback<String>,
    search: F,
    #[prop(optional, into)] placeholder: String,
) -> impl IntoView
where
    F: Fn(String) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ApiResult<Vec<Choice>>> + 'static,
{
    let choices = RwSignal::new(Vec::<Choice>::new());
    let list_id = format!("{id}-choices");
    let ask = move |text: String| {
        crate::api::spawn(search(text), move |found| {
            if let Ok(found) = found
                && !choices.is_disposed()
            {
                choices.set(found);
            }
        });
    };
    // The current value's name, once the choices for it have been asked for.
    Effect::new(move |_| {
        let current = value.get();
        if !current.is_empty() {
            ask(current);
        }
    });
    let picked_name = move || {
        let current = value.get();
        choices.with(|c| c.iter().find(|c| c.uid == current).map(|c| c.label.clone()))
    };
    view! {
        <span class="picker">
            <input
                id=id
                type="search"
                list=list_id.clone()
                autocomplete="off"
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| ask(event_target_value(&ev))
                on:change=move |ev| {
                    let typed = event_target_value(&ev);
                    // A name typed out in full is as good as picking it.
                    let uid = choices.with(|c| c.iter().find(|c| c.is_named(&typed)).map(|c| c.uid.clone()));
                    on_pick.run(uid.unwrap_or(typed));
                }
            />
            <datalist id=list_id>
                {move || choices.get().into_iter().map(|c| view! { <option value=c.uid.clone()>{c.label.clone()}</option> }).collect_view()}
            </datalist>
            <span class="picked muted">{picked_name}</span>
        </span>
    }
}

/// "Export CSV…" and "Export Excel…": the list at `route` with the screen's filter `inputs`, saved
/// where the user chooses.
#[component]
pub fn ExportButtons(
    route: &'static str,
    #[prop(into)] inputs: Signal<std::collections::BTreeMap<String, String>>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let export = move |format: &'static str| {
        use futures::FutureExt;
        save_download(endpoints::export(session, route, inputs.get_untracked(), format).boxed_local());
    };
    view! {
        <button id="export-csv" on:click=move |_| export("csv")>"Export CSV…"</button>
        <button id="export-xlsx" on:click=move |_| export("xlsx")>"Export Excel…"</button>
    }
}
