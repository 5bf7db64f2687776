//! POLL: messages and incremental polling with `after=`. `after` is only
//! ever a string the server returned, never derived from our clock.
//!
//! The checks are listed here in catalogue order; their code is in one file
//! per clause group: [`content`] (POLL-1), [`order`] (ordering and `after`),
//! [`live`] (polling while others send), [`limit`] (`limit` and its default).

mod content;
mod limit;
mod live;
mod order;

use content::{content_exact, empty_refused, html_exact};
use limit::{default_limit, limit_cap, limit_exact};
use live::{concurrent_polling, read_your_writes};
use order::{
    after_strict, ascending_limited, creation_echo, creation_increases, garbage_after, iso_after,
    oldest_first_page,
};

use super::definition::checks;

checks! {
    "POLL-1.1" "POLL-1" Must Normal ["poll"] content_exact
        "send_message answers the stored message; sender and content (Unicode, quotes, CR/LF, spaces, 10,000 chars) come back byte for byte";
    "POLL-1b.1" "POLL-1b" Should Normal ["poll"] html_exact
        "HTML-like content (`<`, `>`) is stored and returned byte for byte too";
    "POLL-1c.1" "POLL-1c" Should Normal ["poll"] empty_refused
        "Empty content is refused with a 4xx and stores nothing";
    "POLL-2.1" "POLL-2" Must Normal ["poll"] ascending_limited
        "get_messages answers ascending by creation, at most `limit`; with `after` the first `limit` after it";
    "POLL-2.2" "POLL-2" Must Normal ["poll"] default_limit
        "Without limit, get_messages answers the default 50 (the oldest 50 of a chat of 101)";
    "POLL-2b.1" "POLL-2b" Should Normal ["poll"] oldest_first_page
        "Without `after`, get_messages answers the oldest `limit` messages";
    "POLL-3.1" "POLL-3" Must Normal ["poll"] after_strict
        "`after=T` answers only messages created strictly after T";
    "POLL-4.1" "POLL-4" Must Normal ["poll"] creation_echo
        "A `creation` string is accepted back as `after` unchanged, microseconds included";
    "POLL-4b.1" "POLL-4b" Should Normal ["poll"] iso_after
        "The same `after` with `T` in place of the space is accepted with the same answer";
    "POLL-5.1" "POLL-5" Must Normal ["poll", "concurrency"] concurrent_polling
        "Pollers following `after` get every message exactly once, in order, while several participants send at once";
    "POLL-6.1" "POLL-6" Must Normal ["poll"] read_your_writes
        "A message is returned by the first poll started after its send_message answered";
    "POLL-7.1" "POLL-7" Must Normal ["poll"] garbage_after
        "`after=garbage` answers a 4xx, not the history; an `after` beyond every message answers an empty list";
    "POLL-8.1" "POLL-8" Must Normal ["poll"] limit_exact
        "`limit` up to 100 is honoured exactly";
    "POLL-8.2" "POLL-8" Info Normal ["poll"] limit_cap
        "Above 100, `limit` is clamped to a cap of at least 100 or refused with a 4xx (which one, and the cap)";
    "POLL-9.1" "POLL-9" Must Normal ["poll"] creation_increases
        "Within a chat, creation strictly increases in storing order: no two messages share one";
}
