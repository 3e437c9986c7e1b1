//! Who is signed in to which gateway: tokens, the user's role, keeping the session alive,
//! and the calls made with its token (refreshed once, however many calls meet a 401 at once).

use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dhis2gw_wire::{Role, TokenResponse, User};
use futures::FutureExt;
use futures::future::{LocalBoxFuture, Shared};
use gloo_net::http::Response;
use leptos::prelude::*;
use serde::de::DeserializeOwned;

use crate::api::{self, ApiError, ApiResult, Call};
use crate::platform;

/// Tokens of a signed-in session.
#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    pub token: String,
    pub refresh_token: String,
    pub expires: DateTime<Utc>,
    pub user: User,
}

impl From<TokenResponse> for Auth {
    fn from(t: TokenResponse) -> Self {
        Auth { token: t.token, refresh_token: t.refresh_token, expires: t.expires, user: t.user }
    }
}

/// Refresh this long before the access token expires, so no call ever meets an expired one.
pub const REFRESH_MARGIN_SECONDS: i64 = 90;

/// Whether tokens expiring at `expires` should be refreshed at `now`.
pub fn needs_refresh(expires: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (expires - now).num_seconds() <= REFRESH_MARGIN_SECONDS
}

/// The console's session, shared through context. Copy: only signals inside.
#[derive(Clone, Copy)]
pub struct Session {
    /// The gateway's address, e.g. `https://gateway.example.org`.
    pub gateway: RwSignal<String>,
    pub auth: RwSignal<Option<Auth>>,
    /// Why the user was signed out, shown on the sign-in screen.
    pub notice: RwSignal<Option<String>>,
}

impl Session {
    pub fn new(gateway: String) -> Self {
        Session { gateway: RwSignal::new(gateway), auth: RwSignal::new(None), notice: RwSignal::new(None) }
    }

    pub fn token(&self) -> Option<String> {
        self.auth.with_untracked(|a| a.as_ref().map(|a| a.token.clone()))
    }

    pub fn user(&self) -> Option<User> {
        self.auth.with(|a| a.as_ref().map(|a| a.user.clone()))
    }

    pub fn role(&self) -> Option<Role> {
        self.auth.with(|a| a.as_ref().map(|a| a.user.role))
    }

    /// May requeue, delete and import (admin, operator).
    pub fn can_operate(&self) -> bool {
        self.role().is_some_and(Role::can_operate)
    }

    /// May submit data, and so upload data files (admin, operator, partner).
    pub fn can_submit(&self) -> bool {
        self.role().is_some_and(Role::can_submit)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    pub fn is_staff(&self) -> bool {
        self.role().is_some_and(Role::is_staff)
    }

    /// Starts a session from fresh tokens and remembers the refresh token for the next start.
    pub fn start(&self, tokens: TokenResponse) {
        let auth = Auth::from(tokens);
        platform::remember_refresh_token(&self.gateway.get_untracked(), Some(&auth.refresh_token));
        self.notice.set(None);
        self.auth.set(Some(auth));
    }

    /// Uses the refresh token now; the new tokens replace the old ones.
    pub async fn refresh_now(&self) -> ApiResult<()> {
        let Some(refresh_token) = self.auth.with_untracked(|a| a.as_ref().map(|a| a.refresh_token.clone())) else {
            return Err(ApiError::expired());
        };
        let tokens = api::refresh(&self.gateway.get_untracked(), &refresh_token).await?;
        self.start(tokens);
        Ok(())
    }

    /// Ends the session at the user's request: the gateway revokes the sign-in (best effort:
    /// signed out here even when the gateway cannot be reached) and the refresh token is forgotten.
    pub fn sign_out(&self) {
        let gateway = self.gateway.get_untracked();
        if let Some(refresh_token) = self.auth.with_untracked(|a| a.as_ref().map(|a| a.refresh_token.clone())) {
            let revoking = gateway.clone();
            api::spawn(async move { api::sign_out(&revoking, &refresh_token).await }, |_| {});
        }
        platform::remember_refresh_token(&gateway, None);
        self.auth.set(None);
        self.notice.set(None);
    }

    /// Ends a session the gateway no longer accepts, saying so on the sign-in screen.
    pub fn expire(&self) {
        if self.auth.with_untracked(Option::is_some) {
            platform::remember_refresh_token(&self.gateway.get_untracked(), None);
            self.auth.set(None);
            self.notice.set(Some(ApiError::expired().message));
        }
    }

    /// Refreshes the tokens shortly before they expire, checking every 20 seconds (which also
    /// copes with a laptop waking from sleep with an expired token).
    pub fn keep_alive(self) {
        let tick = move || {
            let due = self.auth.with_untracked(|a| a.as_ref().is_some_and(|a| needs_refresh(a.expires, Utc::now())));
            if due {
                api::spawn(refresh_once(self), move |result| {
                    if let Err(e) = result {
                        // Unreachable: try again at the next tick; refused: the session is over.
                        if e.status != 0 {
                            self.expire();
                        }
                    }
                });
            }
        };
        if let Ok(handle) = set_interval_with_handle(tick, Duration::from_secs(20)) {
            on_cleanup(move || handle.clear());
        }
    }
}

type RefreshFuture = Shared<LocalBoxFuture<'static, ApiResult<()>>>;

thread_local! {
    /// The refresh in progress, so calls that all got 401 at once spend the refresh token once.
    static REFRESHING: RefCell<Option<RefreshFuture>> = const { RefCell::new(None) };
}

/// Refreshes the session's tokens once, however many callers ask at the same time.
async fn refresh_once(session: Session) -> ApiResult<()> {
    let running = REFRESHING.with(|r| r.borrow().clone());
    let future = match running {
        Some(f) => f,
        None => {
            let f = async move {
                let result = session.refresh_now().await;
                REFRESHING.with(|r| r.borrow_mut().take());
                result
            }
            .boxed_local()
            .shared();
            REFRESHING.with(|r| *r.borrow_mut() = Some(f.clone()));
            f
        }
    };
    future.await
}

/// Sends a call with the session's token; on 401 refreshes once and tries again.
async fn authorized(session: Session, call: &Call) -> ApiResult<Response> {
    let gateway = session.gateway.get_untracked();
    let token = session.token();
    let response = api::send(call, &gateway, token.as_deref()).await?;
    if response.status() != 401 || token.is_none() {
        return Ok(response);
    }
    // The token may have been refreshed meanwhile by another call.
    if session.token() == token
        && let Err(e) = refresh_once(session).await
    {
        session.expire();
        return Err(e);
    }
    let response = api::send(call, &gateway, session.token().as_deref()).await?;
    if response.status() == 401 {
        session.expire();
        return Err(ApiError::expired());
    }
    Ok(response)
}

impl Session {
    /// A call whose answer is JSON.
    pub async fn fetch<T: DeserializeOwned>(self, call: Call) -> ApiResult<T> {
        let response = authorized(self, &call).await?;
        if !response.ok() {
            return Err(api::error_of(response).await);
        }
        response.json().await.map_err(ApiError::unexpected)
    }

    /// A call whose answer is a file: its bytes and the name the gateway suggests.
    pub async fn download(self, call: Call, fallback_name: &str) -> ApiResult<(String, Vec<u8>)> {
        let response = authorized(self, &call).await?;
        if !response.ok() {
            return Err(api::error_of(response).await);
        }
        let name = response
            .headers()
            .get("content-disposition")
            .and_then(|d| crate::format::attachment_name(&d))
            .unwrap_or_else(|| fallback_name.to_string());
        let bytes = response.binary().await.map_err(ApiError::unexpected)?;
        Ok((name, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn refresh_is_due_within_the_margin_only() {
        let now = Utc::now();
        assert!(!needs_refresh(now + chrono::Duration::seconds(900), now));
        assert!(needs_refresh(now + chrono::Duration::seconds(60), now));
        assert!(needs_refresh(now - chrono::Duration::seconds(5), now));
    }
}
