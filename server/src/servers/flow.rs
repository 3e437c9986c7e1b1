//! Flow control per DHIS2 server, in this gateway process.
//!
//! - **How many at once:** a window between 1 and the server's `max_concurrent`. When the server
//!   says it is overloaded (429, 503, a timeout) the window narrows to below the number of
//!   requests that were in flight when the refused one was sent (that many were too many), and
//!   by at least a tenth, at most once per round trip (multiplicative decrease). Answers open it
//!   by one delivery's worth per window of them, half as fast once the server has pushed back
//!   (additive increase: it keeps probing for more, one refusal per two windows). A server that
//!   slows down at night gets fewer requests at once; a fast one gets its `max_concurrent`.
//! - **When:** a `Retry-After` pauses every delivery to the server until then (a pause longer
//!   than a few seconds puts the deliveries back rather than holding worker slots).
//! - **Whether:** after [`FAILURES_TO_OPEN`] requests in a row that found nobody serving (no
//!   answer at all, or a proxy's 502 or 504) the circuit opens: deliveries are not sent, and wait
//!   without an attempt or a retry used up. Once the wait is over one delivery asks
//!   `/api/system/ping`; a pong closes the circuit and that delivery goes, no pong doubles the
//!   wait (up to [`MAX_OPEN`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::infra::dhis2::Dhis2Client;

/// Consecutive answers of nobody serving that open the circuit.
pub const FAILURES_TO_OPEN: u32 = 5;

/// The first wait of an open circuit, doubled at each ping that gets no pong.
const FIRST_OPEN: Duration = Duration::from_secs(5);
pub const MAX_OPEN: Duration = Duration::from_secs(60);

/// What an overload signal leaves of the window.
const DECREASE: f64 = 0.9;

/// The longest pause a `Retry-After` imposes.
const MAX_PAUSE: Duration = Duration::from_secs(300);

/// A pause up to this long is waited out holding the worker slot; a longer one puts the
/// delivery back.
const WAIT_IN_SLOT: Duration = Duration::from_secs(5);

/// A server's flow, shared by the deliveries to it in this process.
pub struct Flow {
    max: usize,
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    window: f64,
    in_flight: usize,
    /// Nothing is sent before this (the server's `Retry-After`).
    paused_until: Option<Instant>,
    /// When the window was last narrowed: answers to requests sent before do not narrow it again.
    narrowed_at: Option<Instant>,
    circuit: Circuit,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Circuit {
    /// Sending; how many answers in a row said nobody is serving.
    Closed { failures: u32 },
    /// Not sending until `until`; `wait` is how long this opening lasted.
    Open { until: Instant, wait: Duration },
    /// One delivery is pinging the server; the others wait for its answer.
    Probing { wait: Duration },
}

/// What a delivery may do.
pub enum Admission<'a> {
    /// Send now; the slot is given back when dropped.
    Send(Slot<'a>),
    /// The circuit is open, or the server asked for a long pause: put the delivery back
    /// without an attempt, to be tried at `until`.
    Wait { until: Instant, why: String },
}

/// One delivery in flight to the server.
pub struct Slot<'a> {
    flow: &'a Flow,
    sent_at: Instant,
    /// Requests in flight when this one was sent, itself included.
    sent_with: usize,
}

/// What became of a request, as far as the flow is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An answer that says nothing of the server's load (2xx, 4xx but 429, 500).
    Served,
    /// The server is there but asks for less (429, 503, a timeout).
    Overloaded { retry_after: Option<Duration> },
    /// Nobody is serving: no answer at all, or a proxy's 502 or 504.
    Unreachable,
}

impl Signal {
    /// From an HTTP status (`None`: no answer) and whether that was a timeout.
    pub fn of(status: Option<u16>, timed_out: bool, retry_after: Option<Duration>) -> Signal {
        match status {
            None if timed_out => Signal::Overloaded { retry_after },
            None | Some(502 | 504) => Signal::Unreachable,
            Some(429 | 503) => Signal::Overloaded { retry_after },
            Some(_) => Signal::Served,
        }
    }
}

impl Flow {
    pub fn new(max_concurrent: usize) -> Flow {
        let max = max_concurrent.max(1);
        Flow {
            max,
            state: Mutex::new(State {
                window: max as f64,
                in_flight: 0,
                paused_until: None,
                narrowed_at: None,
                circuit: Circuit::Closed { failures: 0 },
            }),
            changed: Notify::new(),
        }
    }

    /// Waits for a place in the window (and out of any pause), or says the circuit is open.
    /// When the open circuit's wait is over, this delivery pings the server first.
    pub async fn admit(&self, client: &Dhis2Client) -> Admission<'_> {
        loop {
            // Registered before looking, so a change between the look and the wait is not missed.
            let changed = self.changed.notified();
            let now = Instant::now();
            let next = {
                let mut state = self.lock();
                match state.circuit {
                    Circuit::Open { until, wait } if now < until => {
                        return Admission::Wait { until, why: open_why(wait) };
                    }
                    Circuit::Open { wait, .. } => {
                        state.circuit = Circuit::Probing { wait };
                        Next::Probe(wait)
                    }
                    Circuit::Probing { .. } => Next::Wait(None),
                    Circuit::Closed { .. } => match state.paused_until.filter(|until| *until > now) {
                        // A long pause is waited out in PostgreSQL, not in a worker slot that
                        // other servers' deliveries could use.
                        Some(until) if until - now > WAIT_IN_SLOT => {
                            return Admission::Wait { until, why: paused_why(until - now) };
                        }
                        Some(until) => Next::Wait(Some(until)),
                        None if state.in_flight < state.window.floor() as usize => {
                            state.in_flight += 1;
                            return Admission::Send(Slot { flow: self, sent_at: now, sent_with: state.in_flight });
                        }
                        None => Next::Wait(None),
                    },
                }
            };
            match next {
                Next::Probe(wait) => {
                    if client.ping().await {
                        self.update(|state| state.circuit = Circuit::Closed { failures: 0 });
                    } else {
                        let wait = (wait * 2).min(MAX_OPEN);
                        let until = Instant::now() + wait;
                        self.update(|state| state.circuit = Circuit::Open { until, wait });
                        return Admission::Wait { until, why: open_why(wait) };
                    }
                }
                Next::Wait(Some(until)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until.into()) => {}
                        _ = changed => {}
                    }
                }
                Next::Wait(None) => changed.await,
            }
        }
    }

    /// The server answered the health check: an open circuit closes, so the deliveries brought
    /// forward go at once.
    pub fn reachable(&self) {
        self.update(|state| {
            if matches!(state.circuit, Circuit::Open { .. }) {
                state.circuit = Circuit::Closed { failures: 0 };
            }
        });
    }

    /// The window now (for the metrics).
    pub fn window(&self) -> usize {
        self.lock().window.floor() as usize
    }

    /// Whether deliveries are being held back by an open circuit (for the metrics).
    pub fn is_open(&self) -> bool {
        !matches!(self.lock().circuit, Circuit::Closed { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.changed.notify_waiters();
    }
}

enum Next {
    Probe(Duration),
    /// Until this, or until the state changes.
    Wait(Option<Instant>),
}

fn paused_why(left: Duration) -> String {
    format!("asked to be left alone (Retry-After) for {} s more", left.as_secs().max(1))
}

fn open_why(wait: Duration) -> String {
    format!(
        "did not answer {FAILURES_TO_OPEN} requests in a row; deliveries wait without using retries, and it is pinged every {} s until it answers",
        wait.as_secs()
    )
}

impl Slot<'_> {
    /// Records what the request met and gives the slot back.
    pub fn finish(self, signal: Signal) {
        let (flow, sent) = (self.flow, Sent { at: self.sent_at, with: self.sent_with });
        // Dropping gives the slot back; the state change below wakes the waiters.
        std::mem::forget(self);
        flow.update(|state| {
            state.in_flight -= 1;
            state.observe(signal, sent, Instant::now(), flow.max);
        });
    }
}

impl Drop for Slot<'_> {
    /// A delivery that stopped without an answer (its task cancelled) frees its place.
    fn drop(&mut self) {
        self.flow.update(|state| state.in_flight -= 1);
    }
}

/// When a request was sent, and how many were in flight then (itself included).
#[derive(Clone, Copy)]
struct Sent {
    at: Instant,
    with: usize,
}

impl State {
    fn observe(&mut self, signal: Signal, sent: Sent, now: Instant, max: usize) {
        match signal {
            Signal::Served => {
                self.circuit = Circuit::Closed { failures: 0 };
                let pace = if self.narrowed_at.is_some() { 2.0 } else { 1.0 };
                self.window = (self.window + 1.0 / (pace * self.window)).min(max as f64);
            }
            Signal::Overloaded { retry_after } => {
                // Once per round trip: answers to requests sent before the last cut are old news.
                if self.narrowed_at.is_none_or(|at| sent.at > at) {
                    let too_many = sent.with.saturating_sub(1) as f64;
                    self.window = (self.window * DECREASE).min(too_many).max(1.0);
                    self.narrowed_at = Some(now);
                }
                if let Some(pause) = retry_after {
                    let until = now + pause.min(MAX_PAUSE);
                    self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
                }
            }
            Signal::Unreachable => self.failed(now),
        }
    }

    /// One more request in a row that found nobody serving.
    fn failed(&mut self, now: Instant) {
        if let Circuit::Closed { failures } = self.circuit {
            self.circuit = if failures + 1 >= FAILURES_TO_OPEN {
                Circuit::Open { until: now + FIRST_OPEN, wait: FIRST_OPEN }
            } else {
                Circuit::Closed { failures: failures + 1 }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(window: f64) -> State {
        State { window, in_flight: 0, paused_until: None, narrowed_at: None, circuit: Circuit::Closed { failures: 0 } }
    }

    #[test]
    fn the_window_opens_by_one_per_window_of_answers_up_to_the_maximum() {
        let (mut s, t) = (state(4.0), Instant::now());
        let sent = Sent { at: t, with: 4 };
        for _ in 0..4 {
            s.observe(Signal::Served, sent, t, 10);
        }
        assert_eq!(s.window.floor(), 4.0, "about one per window: {}", s.window);
        for _ in 0..200 {
            s.observe(Signal::Served, sent, t, 10);
        }
        assert_eq!(s.window, 10.0);
        // Once pushed back, half as fast.
        s.observe(Signal::Overloaded { retry_after: None }, Sent { at: t, with: 5 }, t, 10);
        assert_eq!(s.window, 4.0);
        for _ in 0..5 {
            s.observe(Signal::Served, sent, t, 10);
        }
        assert_eq!(s.window.floor(), 4.0, "{}", s.window);
        for _ in 0..4 {
            s.observe(Signal::Served, sent, t, 10);
        }
        assert_eq!(s.window.floor(), 5.0, "{}", s.window);
    }

    #[test]
    fn overload_narrows_the_window_once_per_round_trip_and_a_retry_after_pauses() {
        let mut s = state(10.0);
        let t = Instant::now();
        let full = Sent { at: t, with: 10 };
        let answered = t + Duration::from_millis(300);
        let overloaded = Signal::Overloaded { retry_after: None };
        s.observe(overloaded, full, answered, 10);
        assert_eq!(s.window, 9.0, "by a tenth at least");
        // Sent before the cut: the same congestion, not a new one.
        s.observe(overloaded, Sent { at: t, with: 3 }, answered + Duration::from_millis(1), 10);
        assert_eq!(s.window, 9.0);
        // Sent later with four in flight: four were too many.
        let later = answered + Duration::from_millis(10);
        s.observe(
            Signal::Overloaded { retry_after: Some(Duration::from_secs(7)) },
            Sent { at: later, with: 4 },
            later,
            10,
        );
        assert_eq!(s.window, 3.0);
        assert_eq!(s.paused_until, Some(later + Duration::from_secs(7)));
        for i in 1..100 {
            let at = later + Duration::from_millis(i);
            s.observe(overloaded, Sent { at, with: 1 }, at, 10);
        }
        assert_eq!(s.window, 1.0, "never below one");
    }

    #[test]
    fn the_circuit_opens_after_failures_in_a_row_and_an_answer_between_resets_the_count() {
        let (mut s, t) = (state(5.0), Instant::now());
        let sent = Sent { at: t, with: 1 };
        for _ in 0..FAILURES_TO_OPEN - 1 {
            s.observe(Signal::Unreachable, sent, t, 5);
        }
        s.observe(Signal::Served, sent, t, 5);
        for _ in 0..FAILURES_TO_OPEN - 1 {
            s.observe(Signal::Unreachable, sent, t, 5);
        }
        // A server answering that it is busy is there: no reason to stop sending.
        s.observe(Signal::Overloaded { retry_after: None }, sent, t, 5);
        assert_eq!(s.circuit, Circuit::Closed { failures: FAILURES_TO_OPEN - 1 });
        s.observe(Signal::Unreachable, sent, t, 5);
        assert_eq!(s.circuit, Circuit::Open { until: t + FIRST_OPEN, wait: FIRST_OPEN });
    }

    #[test]
    fn statuses_are_read_as_signals() {
        assert_eq!(Signal::of(Some(200), false, None), Signal::Served);
        assert_eq!(Signal::of(Some(409), false, None), Signal::Served);
        assert_eq!(Signal::of(Some(500), false, None), Signal::Served);
        assert_eq!(Signal::of(Some(502), false, None), Signal::Unreachable);
        assert_eq!(Signal::of(Some(504), false, None), Signal::Unreachable);
        assert_eq!(Signal::of(None, false, None), Signal::Unreachable);
        let pause = Some(Duration::from_secs(3));
        assert_eq!(Signal::of(Some(429), false, pause), Signal::Overloaded { retry_after: pause });
        assert_eq!(Signal::of(Some(503), false, None), Signal::Overloaded { retry_after: None });
        assert_eq!(Signal::of(None, true, None), Signal::Overloaded { retry_after: None });
    }
}
