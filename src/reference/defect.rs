//! Deliberate defects: named switches that each break one contract clause the
//! way real servers get it wrong. The conformance suite turns them on one at a
//! time to prove that every check can fail. Adding one is local: a line in the
//! table below and one `if core.has(Defect::X)` where the behaviour lives.

use std::fmt;
use std::str::FromStr;

macro_rules! defects {
    ($($variant:ident = $name:literal, $clause:literal, $desc:literal;)*) => {
        /// A deliberate deviation from CONTRACT.md (its clause in the doc).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Defect {
            $(#[doc = concat!($clause, ": ", $desc)] $variant,)*
        }

        impl Defect {
            /// Every defect, in catalogue order.
            pub const ALL: &'static [Defect] = &[$(Defect::$variant,)*];

            /// The kebab-case name used by `--defect`.
            pub fn name(self) -> &'static str {
                match self { $(Defect::$variant => $name,)* }
            }

            /// The CONTRACT.md clause the defect breaks, e.g. `RL-6`.
            pub fn clause(self) -> &'static str {
                match self { $(Defect::$variant => $clause,)* }
            }

            /// What the server does wrong, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Defect::$variant => $desc,)* }
            }
        }
    };
}

defects! {
    JsonBodyRejected = "json-body-rejected", "ENV-1", "POST parameters in a JSON body are refused with 400";
    WrongContentType = "wrong-content-type", "ENV-2", "successful answers are labelled text/html";
    ErrorAs200 = "error-as-200", "ENV-2", "errors are answered with status 200 (the envelope in the body)";
    NoExcType = "no-exc-type", "ENV-3", "error bodies carry no exc_type";
    WrongErrorStatus = "wrong-error-status", "ENV-3", "ValidationError and MandatoryError are answered with 400 instead of 417";
    ServerErrorOnBadInput = "server-error-on-bad-input", "ENV-4", "missing or malformed parameters answer 500";
    LoginNoSecret = "login-no-secret", "AUTH-1", "login answers an empty api_secret";
    WrongPasswordAccepted = "wrong-password-accepted", "AUTH-2", "login succeeds with any password for a known user";
    AnonymousAllowed = "anonymous-allowed", "AUTH-3", "a request without Authorization acts as Guest and gets data";
    SenderSpoofed = "sender-spoofed", "AUTH-4", "a sent message is attributed to another participant of the chat";
    WrongSecretAccepted = "wrong-secret-accepted", "AUTH-5", "only the api_key of a token is checked, any secret passes";
    MalformedAuth500 = "malformed-auth-500", "AUTH-5", "a malformed Authorization header answers 500";
    RotateOnLogin = "rotate-on-login", "AUTH-6", "every login issues a new secret, invalidating the previous pair";
    DuplicateSignupOverwrites = "duplicate-signup-overwrites", "AUTH-7", "a second signup with a taken e-mail replaces the user's password and tokens";
    UsersLeakSecret = "users-leak-secret", "AUTH-8", "get_users includes every user's api_key and api_secret";
    ChatsListAll = "chats-list-all", "AUTHZ-1", "get_chats lists every chat, not only the caller's";
    ReadAnyChat = "read-any-chat", "AUTHZ-2", "get_messages skips the participant check";
    SendAnyChat = "send-any-chat", "AUTHZ-3", "send_message skips the participant check";
    MarkAnyChat = "mark-any-chat", "AUTHZ-4", "mark_as_read and get_chat_participants skip the participant check";
    MissingChat500 = "missing-chat-500", "AUTHZ-5", "a chat id that does not exist answers 500";
    CreatorNotAdded = "creator-not-added", "AUTHZ-6", "create_chat does not add the caller to the participants";
    DirectDuplicated = "direct-duplicated", "AUTHZ-6", "creating a Direct chat again makes a second chat";
    UnknownUserAccepted = "unknown-user-accepted", "AUTHZ-6b", "create_chat accepts participant ids that are no user";
    ParticipantsOmitCaller = "participants-omit-caller", "AUTHZ-7", "get_chat_participants leaves the caller out";
    UsersIncludeCaller = "users-include-caller", "USERS-1", "get_users lists the caller too";
    ContentTrimmed = "content-trimmed", "POLL-1", "message content is stored with surrounding whitespace trimmed";
    HtmlEscaped = "html-escaped", "POLL-1b", "content containing < or > is stored HTML-escaped";
    EmptyContentAccepted = "empty-content-accepted", "POLL-1c", "an empty content is stored as a message";
    NewestFirst = "newest-first", "POLL-2", "get_messages answers newest first";
    LimitIgnored = "limit-ignored", "POLL-2", "get_messages ignores limit and answers every message";
    NoDefaultLimit = "no-default-limit", "POLL-2", "without limit, get_messages answers every message instead of the default 50";
    NewestWithoutAfter = "newest-without-after", "POLL-2b", "without after, get_messages answers the newest limit messages";
    AfterInclusive = "after-inclusive", "POLL-3", "after=T includes the message created at T";
    AfterSecondsOnly = "after-seconds-only", "POLL-4", "the microseconds of after are dropped";
    IsoAfterRejected = "iso-after-rejected", "POLL-4b", "after with a T separator is refused with 417";
    LostUnderConcurrency = "lost-under-concurrency", "POLL-5", "creation is taken before a pause and the message inserted after it, so concurrent sends commit out of order (hyper front only)";
    DropMessages = "drop-messages", "POLL-5", "every tenth message is answered by send_message but never stored";
    DelayedVisibility = "delayed-visibility", "POLL-6", "a message becomes visible to get_messages 400 ms after send_message answered";
    GarbageAfterHistory = "garbage-after-history", "POLL-7", "an unparsable after is ignored and the history answered";
    LimitCapped50 = "limit-capped-50", "POLL-8", "limit is silently capped at 50";
    SecondResolution = "second-resolution", "POLL-9", "creation is truncated to whole seconds, so messages of one second share it";
    ReadMarksOwn = "read-marks-own", "READ-1", "mark_as_read also marks the caller's own messages read";
    ReadStateOtherSide = "read-state-other-side", "READ-1", "a message shows read to the other participant once its own sender marks the chat read";
    NoLastReadAt = "no-last-read-at", "READ-2", "mark_as_read does not set last_read_at";
    LastReadAtEveryone = "last-read-at-everyone", "READ-2", "mark_as_read sets every participant's last_read_at, not only the caller's";
    LastReadAtCallerOnly = "last-read-at-caller-only", "READ-2", "get_chat_participants shows last_read_at on the caller's own row only (null for the others)";
    ChatsUnordered = "chats-unordered", "CHATS-1", "get_chats answers in creation order, not by last message";
    NoRateHeaders = "no-rate-headers", "RL-1", "no X-RateLimit headers at all";
    RateHeadersInBody = "rate-headers-in-body", "RL-1", "the rate-limit values are JSON keys of the body instead of headers";
    NoHeadersOnRefusal = "no-headers-on-refusal", "RL-1", "a refusal carries no X-RateLimit headers";
    NoHeadersOn4xx = "no-headers-on-4xx", "RL-1", "403, 404 and 417 answers of the limited endpoints carry no X-RateLimit headers (counted all the same)";
    WrongLimitHeader = "wrong-limit-header", "RL-2", "X-RateLimit-Limit reports twice the enforced limit";
    RemainingOffByOne = "remaining-off-by-one", "RL-3", "X-RateLimit-Remaining is one higher than it should be";
    FailedLoginNotCounted = "failed-login-not-counted", "RL-3", "a login that fails (wrong password, unknown user) is not counted, so passwords can be guessed without limit";
    DoubleCountCreateChat = "double-count-create-chat", "RL-3", "every create_chat is counted twice, so Remaining falls by two";
    RefusedSendStored = "refused-send-stored", "RL-4", "a refused send_message still stores the message";
    RefusedCreateStored = "refused-create-stored", "RL-4", "a refused create_chat still creates the chat";
    OverLimitByOneGetMessages = "over-limit-by-one-get-messages", "RL-4", "get_messages accepts limit + 1 requests a window while its headers announce the limit";
    RefuseWith417 = "refuse-with-417", "RL-4b", "refusals are 417 ValidationError without Retry-After";
    ResetInconsistent = "reset-inconsistent", "RL-5", "X-RateLimit-Reset is in milliseconds";
    FixedWindow = "fixed-window", "RL-6", "the window is fixed (aligned to multiples of its length), not sliding";
    FixedWindowSendMessage = "fixed-window-send-message", "RL-6", "send_message's window is fixed (aligned to multiples of its length), not sliding; the other endpoints slide";
    WindowRestartsOnRequest = "window-restarts-on-request", "RL-6", "every counted request restarts the window, so steady clients are refused";
    WindowRestartsOnRequestCreateChat = "window-restarts-on-request-create-chat", "RL-6", "every counted create_chat restarts its window, so a steady client is refused; the other endpoints slide";
    LoginResetsWindow = "login-resets-window", "RL-6", "a login empties the user's buckets";
    SharedBucket = "shared-bucket", "RL-7", "buckets are per endpoint, shared by all users";
    PerAddressGetMessages = "per-address-get-messages", "RL-7", "get_messages is limited per client address, not per user";
    TrustForwardedFor = "trust-forwarded-for", "RL-7", "login and signup are keyed by the client-supplied X-Forwarded-For";
    DeadlockUnderConcurrency = "deadlock-under-concurrency", "RL-8", "a counted request arriving while another of the same bucket is in progress answers 500 (a lock-wait deadlock, as a database under concurrent writes; hyper front only)";
    RacyCounter = "racy-counter", "RL-8", "the limiter reads the count, pauses, then writes it (not atomic; hyper front only)";
    RacyCounterSendMessage = "racy-counter-send-message", "RL-8", "send_message's limiter reads the count, pauses, then writes it; the other endpoints are atomic (hyper front only)";
    NoPreflight = "no-preflight", "CORS-1", "OPTIONS is not answered as a preflight (404, no CORS headers)";
    NoPostPreflight = "no-post-preflight", "CORS-1", "preflights list only GET and OPTIONS in Access-Control-Allow-Methods";
    NoCorsOnOrdinary = "no-cors-on-ordinary", "CORS-2", "only preflights carry Access-Control-Allow-Origin";
    NoCorsOnPost = "no-cors-on-post", "CORS-2", "only answers to GET carry Access-Control-Allow-Origin, POST answers never";
    NoExposeHeaders = "no-expose-headers", "CORS-2b", "no Access-Control-Expose-Headers, so browsers hide the rate-limit headers";
    NoExposeOnErrors = "no-expose-on-errors", "CORS-2b", "Access-Control-Expose-Headers only on successful answers";
    NoCorsOnAuthError = "no-cors-on-auth-error", "CORS-2b", "401 answers carry no CORS headers (authentication answers before the CORS layer)";
    NoCorsOnRefusal = "no-cors-on-refusal", "CORS-2b", "rate-limit refusals carry no CORS headers (the limiter answers before the CORS layer)";
    NoCorsOnPostRefusal = "no-cors-on-post-refusal", "CORS-2b", "rate-limit refusals of POST endpoints carry no CORS headers (a write limiter in front of the CORS layer)";
    CorsWildcard = "cors-wildcard", "CORS-3", "Access-Control-Allow-Origin is * on every response";
    ReflectAnyOrigin = "reflect-any-origin", "CORS-3", "any Origin is echoed back as allowed";
    CorsPrefixMatch = "cors-prefix-match", "CORS-3", "an Origin is allowed when it starts with an allowed one (http://localhost.evil.example passes)";
    CorsNullOrigin = "cors-null-origin", "CORS-3", "the Origin `null` (sandboxed frames, file: pages) is echoed as allowed";
    CorsAnyScheme = "cors-any-scheme", "CORS-3", "origins are compared without their scheme (http:// passes for an https:// production origin)";
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a defect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown defect {0:?} (see --list-defects)")]
pub struct UnknownDefect(pub String);

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Defect::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| UnknownDefect(s.to_owned()))
    }
}

/// The switched-on defects as a bit set: looked up on every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DefectSet(u128);

impl DefectSet {
    pub fn from_iter<'a>(defects: impl IntoIterator<Item = &'a Defect>) -> Self {
        let mut bits = 0u128;
        for d in defects {
            bits |= 1 << (*d as u32);
        }
        DefectSet(bits)
    }

    #[inline]
    pub fn has(self, d: Defect) -> bool {
        self.0 & (1 << (d as u32)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_and_round_trip() {
        assert!(Defect::ALL.len() <= 128, "DefectSet holds 128");
        let mut seen = std::collections::BTreeSet::new();
        for d in Defect::ALL {
            assert!(seen.insert(d.name()), "duplicate {}", d.name());
            assert!(d
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert_eq!(d.name().parse::<Defect>().unwrap(), *d);
            assert!(!d.clause().is_empty() && !d.description().is_empty());
        }
        assert!("nope".parse::<Defect>().is_err());
    }

    #[test]
    fn set_membership() {
        let s = DefectSet::from_iter(&[Defect::FixedWindow, Defect::ReflectAnyOrigin]);
        assert!(s.has(Defect::FixedWindow) && s.has(Defect::ReflectAnyOrigin));
        assert!(!s.has(Defect::CorsWildcard));
    }
}
