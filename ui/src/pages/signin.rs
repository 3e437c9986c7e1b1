//! Connect and sign in: the gateway's address (remembered ones offered), username, password.

use leptos::prelude::*;

use crate::api;
use crate::components::ErrorNote;
use crate::platform;
use crate::session::Session;

#[component]
pub fn SignIn() -> impl IntoView {
    let session = expect_context::<Session>();
    let settings = platform::settings();
    let remembered = settings.gateways.clone();
    let gateway = RwSignal::new(session.gateway.get_untracked());
    let username = RwSignal::new(settings.username.clone());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<api::ApiError>);
    let busy = RwSignal::new(false);
    let served_by_gateway = platform::serving_gateway().is_some();

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let address = platform::normalise_gateway(&gateway.get_untracked());
        let (user, pass) = (username.get_untracked(), password.get_untracked());
        if user.trim().is_empty() || pass.is_empty() {
            error.set(Some(api::ApiError {
                status: 400,
                message: "Enter your username and password.".into(),
                detail: Vec::new(),
            }));
            return;
        }
        busy.set(true);
        error.set(None);
        api::spawn(
            async move { (api::sign_in(&address, user.trim(), &pass).await, address, user) },
            move |(result, address, user)| {
                busy.set(false);
                match result {
                    Ok(tokens) => {
                        platform::update_settings(|s| {
                            s.remember_gateway(&address);
                            s.username = user.trim().to_string();
                        });
                        password.set(String::new());
                        session.gateway.set(address);
                        session.start(tokens);
                    }
                    Err(e) => error.set(Some(e)),
                }
            },
        );
    };

    view! {
        <div class="signin">
            <form class="card" on:submit=submit aria-labelledby="signin-title">
                <h1 id="signin-title">"dhis2gw console"</h1>
                <p class="muted">"Sign in to a gateway to watch and manage what it sends to DHIS2."</p>
                {move || session.notice.get().map(|n| view! { <p class="notice-inline" role="status">{n}</p> })}
                <label class:hidden=served_by_gateway>
                    "Gateway address"
                    <input
                        id="gateway"
                        type="url"
                        list="gateways"
                        placeholder="https://gateway.example.org"
                        bind:value=gateway
                        required
                    />
                    <datalist id="gateways">
                        {remembered.iter().map(|g| view! { <option value=g.clone()></option> }).collect_view()}
                    </datalist>
                </label>
                {move || {
                    let address = platform::serving_gateway().unwrap_or_else(|| gateway.get());
                    platform::unencrypted_over_network(&address).then(|| view! {
                        <p id="plain-http" class="warning-box" role="alert">
                            "This gateway is reached over plain HTTP: passwords and data cross the network unencrypted. \
                             Ask your administrator for its https:// address."
                        </p>
                    })
                }}
                <label>
                    "Username"
                    <input id="username" autocomplete="username" bind:value=username autofocus/>
                </label>
                <label>
                    "Password"
                    <input id="password" type="password" autocomplete="current-password" bind:value=password/>
                </label>
                {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
                <button id="sign-in" class="primary" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
                <Show when=move || !remembered.is_empty() && !served_by_gateway>
                    <p class="muted small">"Recent gateways are offered as you type the address."</p>
                </Show>
            </form>
        </div>
    }
}
