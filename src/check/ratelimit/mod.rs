//! RL: rate limiting. Each check uses users of its own where it can (their
//! buckets start empty, so `Remaining` is exact), quota-exhausting checks run
//! after the others, and the login-bucket check runs last of all. Timing
//! checks take the window from `--window-seconds`; when the machine was too
//! slow to judge a window, the verdict is `error`, never `fail`.
//!
//! The checks are listed here in catalogue order; their code is in one file
//! per clause group ([`headers`], [`counting`], [`refusals`], [`windows`],
//! [`address`]), the sweep several of them judge in [`sweep`], and what they
//! share in [`helpers`].

mod address;
mod counting;
mod headers;
mod helpers;
mod refusals;
mod sweep;
mod windows;

use address::{address_counts_down, forwarded_for_ignored};
use counting::{atomic_counting, per_user_buckets, remaining_counts_down};
use headers::{
    headers_on_counted, headers_on_errors, headers_on_refusal, limit_header, reset_consistent,
    reset_form,
};
use refusals::{refusal_has_no_effect, refusal_is_429};
use windows::{login_keeps_window, sliding_recovery, steady_client};

use super::definition::checks;

checks! {
    "RL-1.1" "RL-1" Must RateLimit ["rl"] headers_on_counted
        "Counted answers of every table endpoint carry X-RateLimit-Limit, -Remaining and -Reset as non-negative integers";
    "RL-1.2" "RL-1" Must Exhausting ["rl"] headers_on_refusal
        "A refusal by the limiter carries the three X-RateLimit headers too, on get_chats, create_chat, get_messages and send_message";
    "RL-1.3" "RL-1" Must RateLimit ["rl"] headers_on_errors
        "Answers that reached the limiter but were errors (403 not a participant, 417 invalid input) carry the three headers, on GET and POST endpoints";
    "RL-2.1" "RL-2" Must RateLimit ["rl"] limit_header
        "X-RateLimit-Limit equals the expected limit of each endpoint";
    "RL-3.1" "RL-3" Must Exhausting ["rl"] remaining_counts_down
        "Along counted requests Remaining falls by exactly one (Limit - k after the k-th), within 0..=Limit, on get_chats, create_chat, get_messages and send_message";
    "RL-4.1" "RL-4" Must Exhausting ["rl"] refusal_has_no_effect
        "From an idle bucket exactly `limit` requests are accepted, the next are refused with a 4xx and Remaining 0, and a refused send_message or create_chat changes nothing, on each of the four user endpoints";
    "RL-4b.1" "RL-4b" Should Exhausting ["rl"] refusal_is_429
        "A refusal is HTTP 429 with Retry-After";
    "RL-5.1" "RL-5" Must Exhausting ["rl"] reset_consistent
        "Answers carry Date, and X-RateLimit-Reset is seconds (<= window + 1) or an epoch within [Date - 1, Date + window + 1]";
    "RL-5b.1" "RL-5b" Info RateLimit ["rl"] reset_form
        "Which form X-RateLimit-Reset takes: delta-seconds or epoch";
    "RL-6.1" "RL-6" Must Slow ["rl", "slow"] steady_client
        "A client at 60% of the limit in every window is never refused, over two windows, on get_chats, create_chat, get_messages and send_message";
    "RL-6.2" "RL-6" Must Slow ["rl", "slow"] sliding_recovery
        "After a refusal, capacity returns as counted requests age past the window (sliding: not all at once, not never), on get_chats, create_chat, get_messages and send_message";
    "RL-6.3" "RL-6" Must Exhausting ["rl"] login_keeps_window
        "Logging in again does not empty a user's window";
    "RL-7.1" "RL-7" Must Exhausting ["rl"] per_user_buckets
        "Exhausting one user's quota of get_chats, create_chat, get_messages and send_message leaves another user's untouched";
    "RL-3.2" "RL-3" Must Slow ["rl", "slow", "login", "signup"] address_counts_down
        "Login and signup count every request that reaches the limiter (logins of an unknown user, signups of a taken e-mail): Remaining falls by one each, at most Limit - 1, down to 0 at the first refusal";
    "RL-7.2" "RL-7" Must ExhaustsAddress ["rl", "login"] forwarded_for_ignored
        "A client-supplied X-Forwarded-For does not open a fresh login bucket";
    "RL-8.1" "RL-8" Must Exhausting ["rl", "concurrency"] atomic_counting
        "N > limit requests sent at once by one user are accepted exactly `limit` times, on get_chats, create_chat, get_messages and send_message";
}
