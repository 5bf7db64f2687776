//! The personas of a load scenario: what a simulated user does. Each is one
//! file holding its typed section of the scenario file, its resolved
//! parameters, its state machine or step and its request-rate arithmetic
//! (`capacity`'s model), by implementing [`kind::Kind`]. The registry below
//! lists them; adding a persona is one new file and one line there.
//!
//! A `[[persona]]` is read twice: first its `kind`, its `weight` and the
//! names of its parameters (a name no persona knows is refused there, at the
//! key), then its parameters with its kind's typed section, spans kept, so
//! that every error names the file, the line, the column and the field.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeSeed, Deserializer, Error as _, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::input::{from_toml_value, struct_fields, toml_tree, InputError, Source};

pub(crate) mod kind;

pub(crate) use kind::exponential;
pub use kind::PollOutcome;
use kind::{Actor, Iteration, Kind, Params, Polling, Rates, ScreenTimes, Sends};

/// Declares the personas: `"kind" => file::Type,` per persona, the kind as
/// scenario files name it; their order is the order of the lists in errors.
macro_rules! registry {
    ($($(#[$doc:meta])* $kind:literal => $module:ident :: $ty:ident,)+) => {
        $(mod $module;)+
        pub use self::{$($module::$ty,)+};

        /// What a simulated user does.
        ///
        /// With `iterations = N` each user performs N iterations of its persona
        /// ([`Persona::iteration`]), and is then done: it sends and probes no
        /// more, and a user that polls keeps polling every one of its chats (as
        /// in the grace period) until the run ends, so that messages sent to it
        /// are still seen.
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        #[serde(tag = "kind")]
        #[schemars(description = "One persona and its parameters (durations in ms).")]
        pub enum Persona {
            $($(#[$doc])* #[serde(rename = $kind)] $ty($ty),)+
        }

        /// A persona's parameters as written, by kind.
        pub(crate) enum Section {
            $($ty(<$ty as Kind>::Section),)+
        }

        /// Every kind, in the registry's order.
        const KINDS: &[&str] = &[$($kind),+];

        /// The parameters a kind takes, in its section's order.
        fn params_of(kind: &str) -> Option<&'static [&'static str]> {
            match kind {
                $($kind => Some(struct_fields::<<$ty as Kind>::Section>()),)+
                _ => None,
            }
        }

        /// Reads the parameters of `table`, a persona of `kind`, at `path`.
        fn read_section(
            kind: &str,
            table: Spanned<DeValue<'_>>,
            source: &Source<'_>,
            path: &str,
        ) -> Option<Result<Section, InputError>> {
            match kind {
                $($kind => Some(from_toml_value(table, source, path).map(Section::$ty)),)+
                _ => None,
            }
        }

        /// Checks the value of parameter `name` against the type the first
        /// persona taking it gives it, as the first reading goes.
        fn check_param<'de, D: Deserializer<'de>>(name: &'static str, value: D) -> Result<(), D::Error> {
            $(
                if params_of($kind).unwrap_or_default().contains(&name) {
                    let one = OneEntry { key: Some(name), value: Some(value) };
                    return <<$ty as Kind>::Section as Deserialize>::deserialize(one).map(drop);
                }
            )+
            Ok(())
        }

        impl Section {
            fn resolve(self, at: &Params<'_>) -> Result<Persona, InputError> {
                match self {
                    $(Section::$ty(s) => $ty::resolve(s, at).map(Persona::$ty),)+
                }
            }
        }

        impl Persona {
            pub(crate) fn kind(&self) -> &'static str {
                match self { $(Persona::$ty(_) => $kind,)+ }
            }
            /// Whether users of this persona poll their chats (and so are
            /// expected to receive every message sent to them).
            pub(crate) fn polls(&self) -> bool {
                match self { $(Persona::$ty(p) => p.polls(),)+ }
            }
            /// What one of its iterations is.
            pub(crate) fn iteration(&self) -> Iteration {
                match self { $(Persona::$ty(p) => p.iteration(),)+ }
            }
            pub(crate) fn poller(&self, since_origin: Duration) -> Option<Box<dyn Polling>> {
                match self { $(Persona::$ty(p) => p.poller(since_origin),)+ }
            }
            pub(crate) fn screen(&self) -> Option<ScreenTimes> {
                match self { $(Persona::$ty(p) => p.screen(),)+ }
            }
            pub(crate) fn sends(&self) -> Option<Sends> {
                match self { $(Persona::$ty(p) => p.sends(),)+ }
            }
            pub(crate) fn round_every(&self) -> Option<Duration> {
                match self { $(Persona::$ty(p) => p.round_every(),)+ }
            }
            pub(crate) async fn round<U: Actor>(&self, user: &mut U, chat: Option<&str>) {
                match self { $(Persona::$ty(p) => p.round(user, chat).await,)+ }
            }
            /// Its steady-state request rates at `lambda` messages per
            /// second in a chat (`capacity`'s model).
            pub(crate) fn rates(&self, lambda: f64) -> Rates {
                match self { $(Persona::$ty(p) => p.rates(lambda),)+ }
            }
            /// get_messages in the first `seconds` after its screen opens.
            pub(crate) fn startup_polls(&self, seconds: f64, steady: f64) -> f64 {
                match self { $(Persona::$ty(p) => p.startup_polls(seconds, steady),)+ }
            }
        }
    };
}

registry! {
    /// Polls the chat on screen with the design's model. One iteration: one
    /// get_messages (a poll, whatever its answer).
    "poller-design" => poller_design::PollerDesign,
    /// Polls like the reference mobile client. One iteration: one
    /// get_messages (a poll, whatever its answer).
    "poller-mobile" => poller_mobile::PollerMobile,
    /// Sends to the chat on screen and polls it. One iteration: one
    /// send_message (whatever its answer); its polls are not counted.
    "chatter" => chatter::Chatter,
    /// Bursts past an endpoint's limit. One iteration: one burst.
    "limit-prober" => limit_prober::LimitProber,
    /// get_chats, get_chat_participants, mark_as_read. One iteration: one
    /// such round.
    "reader" => reader::Reader,
}

pub use poller_design::DesignPoller;
pub use poller_mobile::MobilePoller;

/// One persona of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PersonaSpec {
    /// Relative share of users.
    #[schemars(range(min = 1))]
    pub weight: u32,
    /// The persona kind (`kind`) and its parameters.
    pub persona: Persona,
}

/// A persona kind by name, as scenario files and reports write it: the
/// schema of the names reports key by (its values are the registry's kinds).
pub(crate) struct PersonaKind;

impl JsonSchema for PersonaKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PersonaKind".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A persona kind.",
            "type": "string",
            "enum": KINDS,
        })
    }
}

/// Every field a `[[persona]]` may have: `kind`, `weight`, then every
/// persona's parameters in the registry's order, each once.
fn all_fields() -> &'static [&'static str] {
    static ALL: OnceLock<Vec<&'static str>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = vec!["kind", "weight"];
        for kind in KINDS {
            for name in params_of(kind).unwrap_or_default() {
                if !all.contains(name) {
                    all.push(name);
                }
            }
        }
        all
    })
}

/// A `[[persona]]` at the first reading: its kind and its weight; each of
/// its parameters is a parameter of some persona, of that persona's type.
pub(crate) struct Head {
    kind: Spanned<String>,
    weight: Option<Spanned<i64>>,
}

enum Key {
    Kind,
    Weight,
    Param(&'static str),
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        match v {
            "kind" => Ok(Key::Kind),
            "weight" => Ok(Key::Weight),
            _ => all_fields()
                .iter()
                .find(|f| **f == v)
                .map(|f| Key::Param(f))
                .ok_or_else(|| E::unknown_field(v, all_fields())),
        }
    }
}

struct HeadVisitor;

impl<'de> Visitor<'de> for HeadVisitor {
    type Value = Head;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct RawPersona")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let (mut kind, mut weight) = (None, None);
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::Kind => kind = Some(map.next_value()?),
                Key::Weight => weight = Some(map.next_value()?),
                Key::Param(name) => map.next_value_seed(ParamCheck(name))?,
            }
        }
        let kind = kind.ok_or_else(|| A::Error::missing_field("kind"))?;
        Ok(Head { kind, weight })
    }
}

/// Reads a parameter's value with its type (see `check_param`).
struct ParamCheck(&'static str);

impl<'de> DeserializeSeed<'de> for ParamCheck {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        check_param(self.0, d)
    }
}

/// A map of one entry, `key` and the value `value` deserializes.
struct OneEntry<D> {
    key: Option<&'static str>,
    value: Option<D>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for OneEntry<D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_map(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for OneEntry<D> {
    type Error = D::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, D::Error> {
        self.key
            .take()
            .map(|k| seed.deserialize(k.into_deserializer()))
            .transpose()
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, D::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(D::Error::custom("a value was read twice")),
        }
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Head, D::Error> {
        d.deserialize_struct("RawPersona", all_fields(), HeadVisitor)
    }
}

/// A `[[persona]]` at the second reading: its parameters with its kind's
/// section (None for a kind no persona has), and where each given one is.
pub(crate) struct Read {
    section: Option<Section>,
    given: Vec<(String, usize)>,
}

/// The second reading of every `[[persona]]`.
pub(crate) fn sections(
    source: &Source<'_>,
    heads: &[Spanned<Head>],
) -> Result<Vec<Read>, InputError> {
    let root = DeValue::Table(toml_tree(source)?.into_inner());
    let mut out = Vec::new();
    for (i, head) in heads.iter().enumerate() {
        let kind = head.get_ref().kind.get_ref().as_str();
        let own = params_of(kind).unwrap_or_default();
        // Only the kind's own parameters: another's is refused by `resolve`.
        let mut table = DeTable::new();
        let mut given = Vec::new();
        let mut span = head.span();
        if let Some(written) = root.get("persona").and_then(|p| p.get_ref().get(i)) {
            span = written.span();
            for (k, v) in written.get_ref().as_table().iter().flat_map(|t| t.iter()) {
                let name: &str = k.get_ref();
                given.push((name.to_owned(), v.span().start));
                if own.contains(&name) {
                    table.insert(k.clone(), v.clone());
                }
            }
        }
        let table = Spanned::new(span, DeValue::Table(table));
        let section = read_section(kind, table, source, &format!("persona[{i}]")).transpose()?;
        out.push(Read { section, given });
    }
    Ok(out)
}

/// Resolves the `i`th persona: its weight, its kind, its parameters.
pub(crate) fn resolve(
    source: &Source<'_>,
    i: usize,
    head: &Head,
    read: Read,
) -> Result<PersonaSpec, InputError> {
    let at = Params {
        source,
        index: i,
        kind_at: head.kind.span().start,
    };
    let weight = at.int(&head.weight, "weight", 1, 1_000_000, 1)?;
    let kind = head.kind.get_ref().as_str();
    let (Some(section), Some(own)) = (read.section, params_of(kind)) else {
        let expected = match KINDS.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        return Err(at.err(
            head.kind.span().start,
            "kind",
            format!("unknown persona {kind:?} (expected {expected})"),
        ));
    };
    // Every parameter given must belong to the persona's kind.
    for name in &all_fields()[2..] {
        if let Some((_, place)) = read.given.iter().find(|(n, _)| n == name) {
            if !own.contains(name) {
                return Err(at.err(
                    *place,
                    name,
                    format!("not a parameter of {kind} (it takes: {})", own.join(", ")),
                ));
            }
        }
    }
    Ok(PersonaSpec {
        weight,
        persona: section.resolve(&at)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::load::scenario::Scenario;

    /// Both readings together give the errors one reading of a flat table
    /// gave: a parameter's type is checked before its kind is known, with
    /// the type the first persona taking it gives it.
    #[test]
    fn parameters_are_typed_before_their_kind_is_judged() {
        let base = "users = 4\nduration = \"5s\"\n[[persona]]\n";
        let cases = [
            ("kind = \"reader\"\nbackoff = \"x\"\n", "x.toml:5:11: persona[0].backoff: invalid type: string \"x\", expected f64"),
            ("kind = \"bogus\"\nbackoff = \"x\"\n", "x.toml:5:11: persona[0].backoff: invalid type: string \"x\", expected f64"),
            ("kind = \"poller-mobile\"\nbackoff = \"x\"\n", "x.toml:5:11: persona[0].backoff: invalid type: string \"x\", expected f64"),
            ("kind = \"reader\"\nbackoff = 1.5\nactive_interval = \"1s\"\n", "x.toml:6:19: persona[0].active_interval: not a parameter of reader (it takes: every)"),
            ("weight = 2\n", "x.toml:3:1: persona[0]: missing field `kind`"),
        ];
        for (persona, want) in cases {
            let text = format!("{base}{persona}");
            let err = Scenario::parse(&text, "x.toml").unwrap_err().to_string();
            assert_eq!(err, want, "{text:?}");
        }
    }
}
