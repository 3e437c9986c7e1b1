//! Alerts: what fires now, the rules (admins change, check and reset them), a test send, and
//! every notification with what the SMTP server or webhook answered.

use dhis2gw_wire::{
    AlertKind, AlertNotification, AlertParameters, AlertRuleInput, AlertRuleView, AlertsOverview, NotificationFilter,
    Page,
};
use leptos::prelude::*;

use crate::api;
use crate::components::{Empty, Load, Loaded, Pager, dialogs, load_into};
use crate::endpoints;
use crate::format;
use crate::session::Session;

/// A number of seconds in words: `90 s`, `10 min`, `6 h`, `7 d`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 && s % 60 == 0 => format!("{} min", s / 60),
        s if s < 2 * 86_400 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} min", s / 60),
    }
}

/// When a rule fires, in words, with the parameters in force.
pub fn parameters(v: &AlertRuleView) -> String {
    let AlertParameters { threshold, window, after } = v.in_force;
    match v.rule.kind {
        AlertKind::Failures | AlertKind::DeadLetters => format!("more than {threshold} within {}", duration(window)),
        AlertKind::ServerUnavailable | AlertKind::QueueAge | AlertKind::HeldAge => format!("after {}", duration(after)),
        AlertKind::PartnerSilent => format!("{threshold} × its usual interval, at least {}", duration(after)),
        AlertKind::ReportsMissing => format!("more than {threshold} missing after the timely days"),
        AlertKind::MappingHealth => format!("more than {threshold}"),
        AlertKind::DatabaseSize => format!("over {threshold} MB"),
    }
}

#[component]
pub fn Alerts() -> impl IntoView {
    let session = expect_context::<Session>();
    let overview = RwSignal::new(Load::<AlertsOverview>::Loading);
    let rules = RwSignal::new(Load::<Vec<AlertRuleView>>::Loading);
    let reload = move || {
        load_into(overview, endpoints::alerts(session));
        load_into(rules, endpoints::alert_rules(session));
    };
    reload();
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Alerts"</h1>
                <button class="ghost" on:click=move |_| reload()>"Reload"</button>
            </div>
            <Loaded state=overview view={move |o: AlertsOverview| view! { <Channels o/> }}/>
            <h2>"Firing now"</h2>
            <Loaded state=overview view={move |o: AlertsOverview| {
                if o.firing.is_empty() {
                    return view! { <Empty text="Nothing is firing."/> }.into_any();
                }
                view! {
                    <table class="grid" id="alerts-firing">
                        <thead><tr><th>"Rule"</th><th>"For"</th><th>"What"</th><th>"Since"</th><th>"Last told"</th></tr></thead>
                        <tbody>
                            {o.firing.into_iter().map(|f| view! {
                                <tr>
                                    <td class="mono">{f.rule.clone()}</td>
                                    <td>{f.subject.clone()}</td>
                                    <td><span class="badge status-failed">"Firing"</span>" "{f.message.clone()}</td>
                                    <td>{format::local_time(&f.firing_since)}</td>
                                    <td>{format::local_time(&f.last_notified_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}/>
            <h2>"Rules"</h2>
            <Loaded state=rules view={move |list: Vec<AlertRuleView>| view! {
                <table class="grid" id="alert-rules">
                    <thead><tr>
                        <th>"Rule"</th><th>"Watches"</th><th>"When"</th><th>"Who hears"</th><th>"From"</th><th>"State"</th><th></th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(|v| view! { <RuleRow v reload/> }).collect_view()}
                    </tbody>
                </table>
            }}/>
            <Show when=move || session.is_admin()>
                <TestSend/>
            </Show>
            <Notifications/>
        </section>
    }
}

/// How notifications go out, in one paragraph.
#[component]
fn Channels(o: AlertsOverview) -> impl IntoView {
    let email = if o.smtp_host.is_empty() {
        "Email is not configured (alerts.smtp_host).".to_string()
    } else {
        format!("Email goes through {}.", o.smtp_host)
    };
    let webhooks =
        if o.webhook_signed { "Webhooks are signed (X-Dhis2gw-Signature)." } else { "Webhooks are not signed." };
    let recipients = if o.recipients.is_empty() {
        "No default recipients (alerts.recipients): only rules with their own recipients notify anyone.".to_string()
    } else {
        format!("Default recipients: {}.", o.recipients.join(", "))
    };
    let digest = if o.digest_time.is_empty() {
        "No daily digest.".to_string()
    } else {
        format!("Daily digest at {}.", o.digest_time)
    };
    let backlog = (o.pending + o.failed_today > 0)
        .then(|| format!(" {} waiting to be sent, {} given up today.", o.pending, o.failed_today));
    view! {
        <p class="muted" id="alert-channels">
            {email}" "{webhooks}" "{recipients}" "
            {format!("A rule that keeps firing is repeated every {}. ", duration(o.repeat))}
            {digest}
            {backlog}
        </p>
    }
}

#[component]
fn RuleRow(v: AlertRuleView, reload: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let editing = RwSignal::new(false);
    let name = v.rule.name.clone();
    let check = {
        let name = name.clone();
        move |_| {
            api::spawn(endpoints::check_alert_rule(session, name.clone()), move |r| match r {
                Ok(findings) if findings.is_empty() => d.notify("Nothing to report now.", false),
                Ok(findings) => {
                    let lines: Vec<String> = findings.into_iter().map(|f| f.message).collect();
                    d.notify(format!("Found now: {}", lines.join(" · ")), true)
                }
                Err(e) => d.notify(e.to_string(), true),
            })
        }
    };
    let reset = {
        let name = name.clone();
        move |_| {
            let name = name.clone();
            d.ask(
                "Undo the change",
                format!("Forget the change made to '{name}' in the console?"),
                "Undo",
                true,
                move || {
                    api::spawn(endpoints::reset_alert_rule(session, name.clone()), move |r| {
                        match &r {
                            Ok(m) => d.notify(m.message.clone(), false),
                            Err(e) => d.notify(e.to_string(), true),
                        }
                        reload();
                    })
                },
            );
        }
    };
    let state = if !v.rule.enabled {
        view! { <span class="badge status-queued">"Off"</span> }.into_any()
    } else if v.firing > 0 {
        view! { <span class="badge status-failed">{format!("Firing ({})", v.firing)}</span> }.into_any()
    } else {
        view! { <span class="badge status-succeeded">"OK"</span> }.into_any()
    };
    let changed = v.origin == "console";
    let from = match v.updated_by.clone().filter(|_| changed) {
        Some(who) => format!("console ({who})"),
        None => v.origin.clone(),
    };
    let recipients =
        if v.effective_recipients.is_empty() { "nobody".to_string() } else { v.effective_recipients.join(", ") };
    let editor = v.clone();
    view! {
        <tr data-rule=name.clone()>
            <td class="mono">{name.clone()}</td>
            <td>{v.title.clone()}</td>
            <td>{parameters(&v)}</td>
            <td>{recipients}</td>
            <td>{from}</td>
            <td>{state}</td>
            <td class="rule-actions">
                <button class="ghost check-rule" on:click=check>"Check now"</button>
                <Show when=move || session.is_admin()>
                    <button class="ghost edit-rule" on:click=move |_| editing.update(|e| *e = !*e)>"Edit"</button>
                </Show>
                {(changed && session.is_admin()).then(|| view! { <button class="ghost reset-rule" on:click=reset.clone()>"Undo change"</button> })}
            </td>
        </tr>
        <Show when=move || editing.get()>
            <tr class="rule-editor"><td colspan="7"><RuleEditor v=editor.clone() editing reload/></td></tr>
        </Show>
    }
}

/// The text of an optional number input: `None` when empty.
fn number<T: std::str::FromStr>(text: &str, field: &str) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| format!("{field}: '{text}' is not a number"))
}

#[component]
fn RuleEditor(
    v: AlertRuleView,
    editing: RwSignal<bool>,
    reload: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let r = v.rule.clone();
    let (uses_threshold, uses_window, uses_after) = r.kind.uses();
    let defaults = v.defaults;
    let placeholder = |text: String| format!("default: {text}");
    let enabled = RwSignal::new(r.enabled);
    let threshold = RwSignal::new(r.threshold.map(|t| t.to_string()).unwrap_or_default());
    let window = RwSignal::new(r.window.map(|w| (w / 60).to_string()).unwrap_or_default());
    let after = RwSignal::new(r.after.map(|a| (a / 60).to_string()).unwrap_or_default());
    let recipients = RwSignal::new(r.recipients.join(", "));
    let error = RwSignal::new(None::<String>);
    let name = r.name.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let minutes = |text: String, field| number::<u64>(&text, field).map(|m| m.map(|m| m * 60));
        let input = (|| {
            Ok::<_, String>(AlertRuleInput {
                kind: Some(r.kind),
                enabled: enabled.get_untracked(),
                threshold: number::<f64>(&threshold.get_untracked(), "Threshold")?,
                window: minutes(window.get_untracked(), "Window")?,
                after: minutes(after.get_untracked(), "After")?,
                recipients: recipients
                    .get_untracked()
                    .split([',', ';', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })();
        let input = match input {
            Ok(input) => input,
            Err(e) => return error.set(Some(e)),
        };
        let name = name.clone();
        api::spawn(endpoints::put_alert_rule(session, name.clone(), input), move |result| match result {
            Ok(_) => {
                d.notify(format!("Rule '{name}' saved; it is checked at the next round."), false);
                editing.set(false);
                reload();
            }
            Err(e) => error.set(Some(e.to_string())),
        });
    };
    view! {
        <form class="rule-form" on:submit=save aria-label=format!("edit {}", v.rule.name)>
            <label class="inline"><input type="checkbox" name="enabled" prop:checked=enabled on:change=move |ev| enabled.set(event_target_checked(&ev))/>"On"</label>
            {uses_threshold.then(|| view! {
                <label>"Threshold"<input name="threshold" type="number" step="any" min="0" placeholder=placeholder(defaults.threshold.to_string()) prop:value=threshold on:input=move |ev| threshold.set(event_target_value(&ev))/></label>
            })}
            {uses_window.then(|| view! {
                <label>"Window (minutes)"<input name="window" type="number" min="1" placeholder=placeholder((defaults.window / 60).to_string()) prop:value=window on:input=move |ev| window.set(event_target_value(&ev))/></label>
            })}
            {uses_after.then(|| view! {
                <label>"After (minutes)"<input name="after" type="number" min="0" placeholder=placeholder((defaults.after / 60).to_string()) prop:value=after on:input=move |ev| after.set(event_target_value(&ev))/></label>
            })}
            <label class="wide">"Recipients (email addresses, webhook URLs; empty: the default ones)"
                <input name="recipients" type="text" prop:value=recipients on:input=move |ev| recipients.set(event_target_value(&ev))/>
            </label>
            <button class="primary" type="submit">"Save"</button>
            <button class="ghost" type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

/// Sends a test notification and shows the answer.
#[component]
fn TestSend() -> impl IntoView {
    let session = expect_context::<Session>();
    let recipient = RwSignal::new(String::new());
    let result = RwSignal::new(None::<(bool, String)>);
    let sending = RwSignal::new(false);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        sending.set(true);
        result.set(None);
        api::spawn(endpoints::test_alert(session, recipient.get_untracked()), move |r| {
            sending.set(false);
            result.set(Some(match r {
                Ok(t) if t.sent => (true, format!("Sent by {}: {}", t.channel, t.answer.unwrap_or_default())),
                Ok(t) => (false, format!("Not sent by {}: {}", t.channel, t.error.unwrap_or_default())),
                Err(e) => (false, e.to_string()),
            }));
        });
    };
    view! {
        <h2>"Test a recipient"</h2>
        <form class="filters" on:submit=send aria-label="test notification">
            <label>"Email address or webhook URL"
                <input id="test-recipient" type="text" prop:value=recipient on:input=move |ev| recipient.set(event_target_value(&ev))/>
            </label>
            <button id="test-send" class="primary" type="submit" disabled=move || sending.get()>
                {move || if sending.get() { "Sending…" } else { "Send test" }}
            </button>
        </form>
        {move || result.get().map(|(ok, text)| view! {
            <p id="test-result" class=if ok { "notice-ok" } else { "error" } role="status">{text}</p>
        })}
    }
}

#[component]
fn Notifications() -> impl IntoView {
    let session = expect_context::<Session>();
    let status = RwSignal::new(String::new());
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(25i64);
    let data = RwSignal::new(Load::<Page<AlertNotification>>::Loading);
    Effect::new(move |_| {
        let filter = NotificationFilter {
            status: Some(status.get()).filter(|s| !s.is_empty()),
            page: Some(page.get()),
            page_size: Some(page_size.get()),
            ..Default::default()
        };
        load_into(data, endpoints::alert_notifications(session, filter));
    });
    let total = Signal::derive(move || data.with(|d| d.ready().map_or(0, |p| p.total)));
    view! {
        <h2>"Notifications"</h2>
        <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="notification filters">
            <label>"Status"
                <select id="notification-status" on:change=move |ev| { status.set(event_target_value(&ev)); page.set(1); }>
                    <option value="">"Any"</option>
                    <option value="sent">"Sent"</option>
                    <option value="pending">"Waiting to be sent again"</option>
                    <option value="failed">"Given up"</option>
                </select>
            </label>
        </form>
        <Loaded state=data view={move |p: Page<AlertNotification>| {
            if p.items.is_empty() {
                return view! { <Empty text="No notifications yet."/> }.into_any();
            }
            view! {
                <table class="grid" id="alert-notifications">
                    <thead><tr><th>"When"</th><th>"What"</th><th>"To"</th><th>"Status"</th><th>"Answer"</th></tr></thead>
                    <tbody>
                        {p.items.into_iter().map(|n| {
                            let badge = match n.status.as_str() { "sent" => "succeeded", "failed" => "failed", _ => "retrying" };
                            let answer = n.error.clone().or(n.answer.clone()).unwrap_or_default();
                            let tries = (n.attempts > 1).then(|| format!(" after {} tries", n.attempts));
                            view! {
                                <tr data-event=n.event.clone()>
                                    <td>{format::local_time(&n.created)}</td>
                                    <td><details><summary>{n.title.clone()}</summary><pre class="json">{n.body.clone()}</pre></details></td>
                                    <td>{format!("{} ({})", n.recipient, n.channel)}</td>
                                    <td><span class=format!("badge status-{badge}")>{n.status.clone()}</span>{tries}</td>
                                    <td class="mono">{answer}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}/>
        <Pager page page_size total/>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(6 * 3600), "6 h");
        assert_eq!(duration(7 * 86_400), "7 d");
        assert_eq!(duration(90 * 60), "90 min");
    }
}
