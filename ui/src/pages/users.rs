//! Users (admins only): list, create, edit, change role, reset password, deactivate; each
//! user's scope, limits and expiry with today's use; and their partner API tokens: create
//! (shown once, optionally scoped), list with their last use, rotate, revoke.

use dhis2gw_wire::{
    ApiToken, CreateApiToken, CreateUser, CreatedApiToken, IntakeValidation, Page, PartnerAccess, PartnerAccessView,
    PartnerScope, RegisterCompletion, Role, RotateApiToken, UpdateUser, User, UserFilter,
};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{Empty, ErrorNote, Load, Loaded, Pager, dialogs, load_into};
use crate::endpoints;
use crate::format;
use crate::platform;
use crate::session::Session;

#[component]
pub fn Users() -> impl IntoView {
    let session = expect_context::<Session>();
    let username = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    let active = RwSignal::new(String::new());
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(25i64);
    let data = RwSignal::new(Load::<Page<User>>::Loading);
    let reload_count = RwSignal::new(0u32);
    let open = RwSignal::new(None::<User>);

    Effect::new(move |_| {
        reload_count.track();
        let text = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let filter = UserFilter {
            username: text(username.get()),
            email: None,
            role: role.get().parse().ok(),
            is_active: active.get().parse().ok(),
            page: Some(page.get()),
            page_size: Some(page_size.get()),
        };
        load_into(data, endpoints::users(session, filter));
    });
    let reload = Callback::new(move |()| reload_count.update(|n| *n += 1));
    let total = Signal::derive(move || data.with(|d| d.ready().map_or(0, |p| p.total)));

    view! {
        <section class="page">
            <div class="page-head"><h1>"Users & partner tokens"</h1></div>
            <NewUser on_created=reload/>
            <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="filters">
                <label>"Username" <input type="search" on:change=move |ev| { username.set(event_target_value(&ev)); page.set(1); }/></label>
                <label>"Role"
                    <select on:change=move |ev| { role.set(event_target_value(&ev)); page.set(1); }>
                        <option value="">"Any"</option>
                        {Role::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Active"
                    <select on:change=move |ev| { active.set(event_target_value(&ev)); page.set(1); }>
                        <option value="">"Any"</option><option value="true">"Active"</option><option value="false">"Deactivated"</option>
                    </select>
                </label>
            </form>
            <div class="split">
                <div class="table-wrap">
                    <Loaded state=data view={move |p: Page<User>| {
                        if p.items.is_empty() {
                            return view! { <Empty text="No users match."/> }.into_any();
                        }
                        view! {
                            <table class="grid" id="users">
                                <thead><tr><th>"Username"</th><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Active"</th><th>"Last sign-in"</th><th></th></tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|u| {
                                        let shown = u.clone();
                                        view! {
                                            <tr data-username=u.username.clone() class:current=move || open.with(|o| o.as_ref().is_some_and(|o| o.uid == shown.uid))>
                                                <td>{u.username.clone()}</td>
                                                <td>{format!("{} {}", u.firstname, u.lastname)}</td>
                                                <td>{u.email.clone().unwrap_or_default()}</td>
                                                <td>{u.role.as_str()}</td>
                                                <td>{if u.is_active { "yes" } else { "no" }}</td>
                                                <td>{format::local_time_opt(&u.last_login)}</td>
                                                <td><button class="small" on:click={ let u = u.clone(); move |_| open.set(Some(u.clone())) }>"Manage"</button></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}/>
                    <Pager page page_size total/>
                </div>
                {move || open.get().map(|u| view! { <UserPanel u on_change=reload on_close=Callback::new(move |()| open.set(None))/> })}
            </div>
        </section>
    }
}

#[component]
fn NewUser(on_created: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let form = RwSignal::new(CreateUser { is_active: true, ..Default::default() });
    let role = RwSignal::new("partner".to_string());
    let error = RwSignal::new(None::<ApiError>);
    let shown = RwSignal::new(false);
    let text = move |get: fn(&CreateUser) -> String,
                     set: fn(&mut CreateUser, String),
                     id: &'static str,
                     kind: &'static str| {
        view! { <input id=id type=kind prop:value=move || form.with(get) on:input=move |ev| form.update(|f| set(f, event_target_value(&ev)))/> }
    };
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut body = form.get_untracked();
        body.role = role.get_untracked().parse().ok();
        api::spawn(endpoints::create_user(session, body), move |r| match r {
            Ok(created) => {
                d.notify(format!("User {} created", created.user.username), false);
                form.set(CreateUser { is_active: true, ..Default::default() });
                error.set(None);
                shown.set(false);
                on_created.run(());
            }
            Err(e) => error.set(Some(e)),
        });
    };
    view! {
        <Show when=move || shown.get() fallback=move || view! { <button id="new-user" class="primary" on:click=move |_| shown.set(true)>"New user…"</button> }>
            <form class="card form-grid" id="new-user-form" on:submit=create>
                <h2>"New user"</h2>
                <label>"Username" {text(|f| f.username.clone(), |f, v| f.username = v, "new-username", "text")}</label>
                <label>"Password" {text(|f| f.password.clone(), |f, v| f.password = v, "new-password", "password")}</label>
                <label>"First name" {text(|f| f.firstname.clone(), |f, v| f.firstname = v, "new-firstname", "text")}</label>
                <label>"Last name" {text(|f| f.lastname.clone(), |f, v| f.lastname = v, "new-lastname", "text")}</label>
                <label>"Email" {text(|f| f.email.clone().unwrap_or_default(), |f, v| f.email = (!v.is_empty()).then_some(v), "new-email", "email")}</label>
                <label>"Role" <RoleSelect id="new-role" role/></label>
                {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
                <div class="actions">
                    <button type="button" on:click=move |_| shown.set(false)>"Cancel"</button>
                    <button id="create-user" class="primary" type="submit">"Create user"</button>
                </div>
            </form>
        </Show>
    }
}

#[component]
fn RoleSelect(id: &'static str, role: RwSignal<String>) -> impl IntoView {
    view! {
        <select id=id on:change=move |ev| role.set(event_target_value(&ev))>
            {Role::ALL.iter().map(|r| {
                let name = r.as_str();
                view! { <option value=name selected=move || role.get() == name>{name}</option> }
            }).collect_view()}
        </select>
    }
}

/// One user: edit, role, password reset, deactivate, and their API tokens.
#[component]
fn UserPanel(u: User, on_change: Callback<()>, on_close: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let uid = u.uid.clone();
    let firstname = RwSignal::new(u.firstname.clone());
    let lastname = RwSignal::new(u.lastname.clone());
    let email = RwSignal::new(u.email.clone().unwrap_or_default());
    let role = RwSignal::new(u.role.as_str().to_string());
    let active = RwSignal::new(u.is_active);
    let checks = RwSignal::new(u.intake_validation.map(|v| v.as_str().to_string()).unwrap_or_default());
    let completion = RwSignal::new(u.register_completion.map(|v| v.as_str().to_string()).unwrap_or_default());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let update = {
        let uid = uid.clone();
        move |body: UpdateUser, done: &'static str| {
            api::spawn(endpoints::update_user(session, uid.clone(), body), move |r| match r {
                Ok(_) => {
                    error.set(None);
                    d.notify(done, false);
                    on_change.run(());
                }
                Err(e) => error.set(Some(e)),
            });
        }
    };
    let save = {
        let update = update.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            update(
                UpdateUser {
                    firstname: Some(firstname.get_untracked()),
                    lastname: Some(lastname.get_untracked()),
                    email: Some(email.get_untracked()),
                    role: role.get_untracked().parse().ok(),
                    is_active: Some(active.get_untracked()),
                    intake_validation: Some(checks.get_untracked()),
                    register_completion: Some(completion.get_untracked()),
                    ..Default::default()
                },
                "User saved",
            )
        }
    };
    let reset = move |_| {
        let new = password.get_untracked();
        password.set(String::new());
        update(UpdateUser { password: Some(new), ..Default::default() }, "Password changed")
    };
    let deactivate = {
        let (uid, name) = (uid.clone(), u.username.clone());
        move |_| {
            let uid = uid.clone();
            d.ask(
                "Deactivate user",
                format!("Deactivate {name}? They can no longer sign in, and their API tokens stop working."),
                "Deactivate",
                true,
                move || {
                    api::spawn(endpoints::deactivate_user(session, uid.clone()), move |r| {
                        d.outcome(&r, "User deactivated");
                        active.set(false);
                        on_change.run(());
                    });
                },
            );
        }
    };
    view! {
        <aside class="detail card" id="user-panel">
            <div class="page-head">
                <h2>{u.username.clone()}</h2>
                <button class="close ghost" aria-label="Close" on:click=move |_| on_close.run(())>"✕"</button>
            </div>
            <form class="form-grid" on:submit=save>
                <label>"First name" <input bind:value=firstname/></label>
                <label>"Last name" <input bind:value=lastname/></label>
                <label>"Email" <input type="email" bind:value=email/></label>
                <label>"Role" <RoleSelect id="edit-role" role/></label>
                <label>
                    "Checks against DHIS2's metadata"
                    <OwnSetting id="edit-intake-validation" value=checks choices=IntakeValidation::ALL.map(|v| {
                        let label = match v {
                            IntakeValidation::Strict => "Strict: refuse a submission DHIS2 would refuse",
                            IntakeValidation::Partial => "Partial: send the values DHIS2 would take",
                            IntakeValidation::Off => "Off: DHIS2 decides",
                        };
                        (v.as_str(), label)
                    })/>
                </label>
                <label>
                    "Registers data sets as complete"
                    <OwnSetting id="edit-register-completion" value=completion choices=RegisterCompletion::ALL.map(|v| {
                        let label = match v {
                            RegisterCompletion::Always => "Always: every submission, dated the day it is sent",
                            RegisterCompletion::WhenRequested => "When a submission asks (completeDate or complete: true)",
                            RegisterCompletion::Never => "Never",
                        };
                        (v.as_str(), label)
                    })/>
                </label>
                <label class="inline"><input type="checkbox" bind:checked=active/>" Active"</label>
                {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
                <div class="actions">
                    <button class="danger" type="button" on:click=deactivate disabled=move || !active.get()>"Deactivate"</button>
                    <button class="primary" type="submit">"Save"</button>
                </div>
            </form>
            <h3>"Reset password"</h3>
            <div class="row">
                <input type="password" aria-label="New password" placeholder="New password" bind:value=password/>
                <button on:click=reset disabled=move || password.with(String::is_empty)>"Set password"</button>
            </div>
            <Access uid=u.uid.clone()/>
            <Tokens uid=u.uid.clone()/>
        </aside>
    }
}

/// A user's scope, limits and expiry; what is in force and today's use.
#[component]
fn Access(uid: String) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let data = RwSignal::new(Load::<PartnerAccessView>::Loading);
    let scope = ScopeFields::default();
    let per_second = RwSignal::new(String::new());
    let per_day = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let show = move |view: &PartnerAccessView| {
        scope.show(&view.access.scope);
        per_second.set(view.access.requests_per_second.map(|r| r.to_string()).unwrap_or_default());
        per_day.set(view.access.values_per_day.map(|v| v.to_string()).unwrap_or_default());
        expires.set(view.access.expires_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default());
    };
    {
        let uid = uid.clone();
        api::spawn(endpoints::access(session, uid), move |r| {
            if let Ok(view) = &r {
                show(view);
            }
            data.set(Load::from(r));
        });
    }
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = match access_input(
            &scope.read(),
            &per_second.get_untracked(),
            &per_day.get_untracked(),
            &expires.get_untracked(),
        ) {
            Ok(body) => body,
            Err(e) => return error.set(Some(ApiError { status: 400, message: e, detail: Vec::new() })),
        };
        api::spawn(endpoints::set_access(session, uid.clone(), body), move |r| match r {
            Ok(view) => {
                error.set(None);
                show(&view);
                data.set(Load::Ready(view));
                d.notify("Scope and limits saved", false);
            }
            Err(e) => error.set(Some(e)),
        });
    };
    view! {
        <h3>"Scope and limits"</h3>
        <Loaded state=data view={move |v: PartnerAccessView| view! {
            <p class="muted small" id="access-in-force">
                {in_force(&v)}
            </p>
        }}/>
        <form class="form-grid" id="access-form" on:submit=save>
            <ScopeInputs fields=scope prefix="access"/>
            <label>"Requests per second" <input id="access-rps" type="number" min="1" placeholder="The gateway's" bind:value=per_second/></label>
            <label>"Data values per day" <input id="access-vpd" type="number" min="1" placeholder="The gateway's" bind:value=per_day/></label>
            <label>"Expires" <input id="access-expires" type="date" bind:value=expires/></label>
            {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
            <div class="actions"><button class="primary" id="access-save" type="submit">"Save scope and limits"</button></div>
        </form>
    }
}

/// What is in force for a user and how much of it was used today, in a sentence.
fn in_force(v: &PartnerAccessView) -> String {
    let rate = match v.effective_requests_per_second {
        Some(r) => format!("{r} requests per second"),
        None => "no request limit".into(),
    };
    let day = match v.effective_values_per_day {
        Some(limit) => format!("{} of {limit} data values sent today", v.values_today),
        None => format!("{} data values sent today (no daily limit)", v.values_today),
    };
    let refused = match v.refused_over_limit {
        0 => String::new(),
        1 => "; 1 request refused over a limit".into(),
        n => format!("; {n} requests refused over a limit"),
    };
    let seen = v.last_login_ip.as_ref().map(|ip| format!("; last signed in from {ip}")).unwrap_or_default();
    format!("In force: {rate}; {day}{refused}{seen}.")
}

/// The access form as the API takes it; a number that is not one is named.
pub fn access_input(
    scope: &PartnerScope,
    per_second: &str,
    per_day: &str,
    expires: &str,
) -> Result<PartnerAccess, String> {
    let number = |text: &str, what: &str| -> Result<Option<i64>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>().map(Some).map_err(|_| format!("{what}: '{text}' is not a whole number"))
    };
    let requests_per_second = number(per_second, "Requests per second")?
        .map(|r| u32::try_from(r).map_err(|_| format!("Requests per second: {r} is out of range")))
        .transpose()?;
    Ok(PartnerAccess {
        scope: scope.clone(),
        requests_per_second,
        values_per_day: number(per_day, "Data values per day")?,
        expires_at: parse_expiry(expires)?,
    })
}

/// The three lists of a scope, as comma-separated inputs.
#[derive(Clone, Copy, Default)]
struct ScopeFields {
    data_sets: RwSignal<String>,
    org_units: RwSignal<String>,
    networks: RwSignal<String>,
}

impl ScopeFields {
    fn show(&self, scope: &PartnerScope) {
        self.data_sets.set(scope.data_sets.join(", "));
        self.org_units.set(scope.org_units.join(", "));
        self.networks.set(scope.networks.join(", "));
    }

    fn read(&self) -> PartnerScope {
        PartnerScope {
            data_sets: split_list(&self.data_sets.get_untracked()),
            org_units: split_list(&self.org_units.get_untracked()),
            networks: split_list(&self.networks.get_untracked()),
        }
    }
}

#[component]
fn ScopeInputs(fields: ScopeFields, prefix: &'static str) -> impl IntoView {
    view! {
        <label>"Data sets (UIDs or codes; empty: any)"
            <input id=format!("{prefix}-data-sets") placeholder="e.g. MONTHLY_HIV" bind:value=fields.data_sets/></label>
        <label>"Org-unit subtrees (UIDs or codes; empty: any)"
            <input id=format!("{prefix}-org-units") placeholder="e.g. DIST001, FAC004" bind:value=fields.org_units/></label>
        <label>"Client networks (CIDR; empty: anywhere)"
            <input id=format!("{prefix}-networks") placeholder="e.g. 10.0.0.0/8, 192.0.2.7" bind:value=fields.networks/></label>
    }
}

/// A comma- (or space-) separated list, without blanks.
pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A token's scope in a few words.
fn scope_summary(scope: &PartnerScope) -> String {
    if scope.is_empty() {
        return "the user's".into();
    }
    let parts = [("data sets", &scope.data_sets), ("org units", &scope.org_units), ("networks", &scope.networks)];
    parts
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(what, l)| format!("{what}: {}", l.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[component]
fn Tokens(uid: String) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let data = RwSignal::new(Load::<Vec<ApiToken>>::Loading);
    let name = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let scope = ScopeFields::default();
    let overlap = RwSignal::new(String::from("86400"));
    let created = RwSignal::new(None::<CreatedApiToken>);
    let error = RwSignal::new(None::<ApiError>);
    let reload = {
        let uid = uid.clone();
        move || load_into(data, endpoints::tokens(session, uid.clone()))
    };
    reload();
    let create = {
        let (uid, reload) = (uid.clone(), reload.clone());
        move |_| {
            let expires_at = match parse_expiry(&expires.get_untracked()) {
                Ok(e) => e,
                Err(e) => return error.set(Some(ApiError { status: 400, message: e, detail: Vec::new() })),
            };
            let body = CreateApiToken { name: name.get_untracked(), expires_at, scope: scope.read() };
            let reload = reload.clone();
            api::spawn(endpoints::create_token(session, uid.clone(), body), move |r| {
                match r {
                    Ok(t) => {
                        created.set(Some(t));
                        name.set(String::new());
                        scope.show(&PartnerScope::default());
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e)),
                }
                reload();
            });
        }
    };
    let revoke = {
        let (uid, reload) = (uid.clone(), reload.clone());
        move |t: ApiToken| {
            let (uid, reload) = (uid.clone(), reload.clone());
            d.ask(
                "Revoke token",
                format!("Revoke the token '{}' ({}…)? Systems using it are refused from now on.", t.name, t.prefix),
                "Revoke",
                true,
                move || {
                    let reload = reload.clone();
                    api::spawn(endpoints::revoke_token(session, uid.clone(), t.id), move |r| {
                        d.outcome(&r, "Token revoked");
                        reload();
                    });
                },
            );
        }
    };
    let rotate = {
        let (uid, reload) = (uid.clone(), reload.clone());
        move |t: ApiToken| {
            let (uid, reload) = (uid.clone(), reload.clone());
            let seconds: u64 = overlap.get_untracked().parse().unwrap_or(86_400);
            d.ask(
                "Rotate token",
                format!(
                    "Make a new token in place of '{}' ({}…)? The old one keeps working for {} so the partner system can switch, then stops.",
                    t.name,
                    t.prefix,
                    overlap_words(seconds)
                ),
                "Rotate",
                false,
                move || {
                    let reload = reload.clone();
                    let body = RotateApiToken { overlap_secs: seconds };
                    api::spawn(endpoints::rotate_token(session, uid.clone(), t.id, body), move |r| {
                        match r {
                            Ok(new) => created.set(Some(new)),
                            Err(e) => error.set(Some(e)),
                        }
                        reload();
                    });
                },
            );
        }
    };
    view! {
        <h3>"Partner API tokens"</h3>
        {move || created.get().map(|t| {
            let token = t.token.clone();
            let copied = RwSignal::new(false);
            view! {
                <div class="secret" id="new-token" role="status">
                    <p><strong>"Copy this token now: it is not shown again."</strong></p>
                    <code id="new-token-value">{t.token.clone()}</code>
                    <button id="copy-token" on:click=move |_| {
                        let token = token.clone();
                        api::spawn(async move { platform::copy(&token).await }, move |ok| copied.set(ok));
                    }>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
                    <button class="ghost" on:click=move |_| created.set(None)>"Done"</button>
                </div>
            }
        })}
        <div class="row">
            <input id="token-name" placeholder="What it is for, e.g. the EMR's name" bind:value=name/>
            <label class="inline">"Expires " <input id="token-expires" type="date" bind:value=expires/></label>
            <button id="create-token" class="primary" on:click=create>"Create token"</button>
        </div>
        <details class="token-scope">
            <summary>"Narrow the new token's scope (within the user's)"</summary>
            <div class="form-grid"><ScopeInputs fields=scope prefix="token"/></div>
        </details>
        <label class="inline">"When rotating, the old token keeps working for "
            <select id="rotation-overlap" on:change=move |ev| overlap.set(event_target_value(&ev))>
                {[3_600u64, 86_400, 7 * 86_400].into_iter().map(|s| view! {
                    <option value=s.to_string() selected=move || overlap.get() == s.to_string()>{overlap_words(s)}</option>
                }).collect_view()}
            </select>
        </label>
        {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
        <Loaded state=data view={move |tokens: Vec<ApiToken>| {
            if tokens.is_empty() {
                return view! { <Empty text="No tokens."/> }.into_any();
            }
            let (revoke, rotate) = (revoke.clone(), rotate.clone());
            view! {
                <table class="grid compact" id="tokens">
                    <thead><tr><th>"Name"</th><th>"Starts with"</th><th>"Active"</th><th>"Scope"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                    <tbody>
                        {tokens.into_iter().map(|t| {
                            let (revoke, rotate) = (revoke.clone(), rotate.clone());
                            let (token, again) = (t.clone(), t.clone());
                            let state = match (t.is_active, t.rotated_to) {
                                (false, _) => "revoked".to_string(),
                                (true, Some(next)) => format!("rotated (to #{next})"),
                                (true, None) => "yes".to_string(),
                            };
                            let used = match (&t.last_used_at, &t.last_used_ip) {
                                (Some(at), Some(ip)) => format!("{} from {ip}", format::local_time(at)),
                                (at, _) => format::local_time_opt(at),
                            };
                            view! {
                                <tr>
                                    <td>{t.name.clone()}</td>
                                    <td class="mono">{format!("{}…", t.prefix)}</td>
                                    <td>{state}</td>
                                    <td class="small">{scope_summary(&t.scope)}</td>
                                    <td>{expiry(&t)}</td>
                                    <td>{used}</td>
                                    <td class="actions">
                                        {(t.is_active && t.rotated_to.is_none()).then(|| view! { <button class="small" on:click=move |_| rotate(again.clone())>"Rotate"</button> })}
                                        {t.is_active.then(|| view! { <button class="small danger" on:click=move |_| revoke(token.clone())>"Revoke"</button> })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}/>
    }
}

/// A user's own setting of one of the gateway's choices, or (empty) the gateway's.
#[component]
fn OwnSetting(id: &'static str, value: RwSignal<String>, choices: [(&'static str, &'static str); 3]) -> impl IntoView {
    view! {
        <select id=id on:change=move |ev| value.set(event_target_value(&ev))>
            <option value="" selected=move || value.get().is_empty()>"The gateway's setting"</option>
            {choices.into_iter().map(|(v, label)| {
                view! { <option value=v selected=move || value.get() == v>{label}</option> }
            }).collect_view()}
        </select>
    }
}

/// When a token stops working. One that never does (the original dhis2gw's tokens came over
/// so) is said to be worth rotating: a leaked one would work for ever.
fn expiry(token: &ApiToken) -> AnyView {
    match &token.expires_at {
        Some(at) => format::local_time(at).into_any(),
        None if token.is_active => view! {
            <span class="never">"Never"</span>
            <span class="muted small">" — rotate it, and give the new one to the partner"</span>
        }
        .into_any(),
        None => "Never".into_any(),
    }
}

/// A rotation overlap in words.
fn overlap_words(seconds: u64) -> String {
    match seconds {
        3_600 => "1 hour".into(),
        86_400 => "1 day".into(),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s => format!("{s} seconds"),
    }
}

/// An expiry date from a date input: the end of that day in UTC, or none when empty.
pub fn parse_expiry(date: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    if date.trim().is_empty() {
        return Ok(None);
    }
    let day =
        chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| format!("'{date}' is not a date"))?;
    Ok(Some(day.and_hms_opt(23, 59, 59).expect("a valid time").and_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn token_expiry_is_the_end_of_the_chosen_day() {
        assert_eq!(parse_expiry(""), Ok(None));
        assert_eq!(parse_expiry("2027-01-31").unwrap().unwrap().to_rfc3339(), "2027-01-31T23:59:59+00:00");
        assert!(parse_expiry("31/01/2027").is_err());
    }

    #[wasm_bindgen_test]
    fn the_access_form_reads_lists_and_numbers_and_names_what_is_not_a_number() {
        assert_eq!(split_list(" MONTHLY_HIV,DIST001  FAC004,, "), ["MONTHLY_HIV", "DIST001", "FAC004"]);
        let scope = PartnerScope { org_units: vec!["DIST001".into()], ..Default::default() };
        let access = access_input(&scope, "5", "", "2027-01-31").unwrap();
        assert_eq!((access.requests_per_second, access.values_per_day), (Some(5), None));
        assert_eq!(access.scope, scope);
        assert_eq!(
            access_input(&scope, "", "lots", "").unwrap_err(),
            "Data values per day: 'lots' is not a whole number"
        );
        assert_eq!(overlap_words(7 * 86_400), "7 days");
    }
}
