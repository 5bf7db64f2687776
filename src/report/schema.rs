//! The JSON Schemas of the report files (`report.json`, `summary.json`,
//! `limits.json`, `capacity.json`), generated from their model types: each
//! type derives `schemars::JsonSchema`, its doc comments are the
//! descriptions, and [`generate`] adds the house rules every schema follows.
//! The `.schema.json` files shipped beside the models are this output;
//! `tests/it/schema.rs` fails when one differs (`UPDATE_SCHEMAS=1` rewrites
//! them), so a field added to a model cannot drift from its schema.

use std::marker::PhantomData;

use schemars::generate::SchemaSettings;
use schemars::transform::{transform_subschemas, Transform};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

/// The schema of `T` as shipped: draft 2020-12, describing what the tool
/// writes (not what it would read back), pretty-printed with a final newline.
/// Every object that lists properties is closed (`additionalProperties:
/// false`), the tag of a tagged variant takes the variant's description, and
/// a description is one line per paragraph of its doc comment.
pub fn generate<T: JsonSchema>() -> String {
    let schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(HouseRules)
        .into_generator()
        .into_root_schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Closes every object schema that lists properties, describes the tag
/// property (`kind`) of each variant of a tagged enum with the variant's
/// description, and unwraps the lines of every description. An `if` is a
/// condition on a document, not a definition of one: it stays open, or it
/// would never match.
#[derive(Clone)]
struct HouseRules;

impl Transform for HouseRules {
    fn transform(&mut self, schema: &mut Schema) {
        let condition = schema.remove("if");
        if let Some(obj) = schema.as_object_mut() {
            if let Some(Value::String(text)) = obj.get_mut("description") {
                *text = unwrap_lines(text);
            }
            if obj.contains_key("properties")
                && !obj.contains_key("additionalProperties")
                && !obj.contains_key("unevaluatedProperties")
            {
                obj.insert("additionalProperties".into(), Value::Bool(false));
            }
            for key in ["oneOf", "anyOf"] {
                let variants = obj.get_mut(key).and_then(Value::as_array_mut);
                variants.into_iter().flatten().for_each(describe_tag);
            }
        }
        transform_subschemas(self, schema);
        if let Some(condition) = condition {
            schema.insert("if".into(), condition);
        }
    }
}

/// A doc comment as one line per paragraph: the line breaks of its source
/// wrapping are not part of what it says.
fn unwrap_lines(doc: &str) -> String {
    doc.split("\n\n")
        .map(|paragraph| paragraph.replace('\n', " "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Gives a variant's `const` properties (its tag) the variant's description.
fn describe_tag(variant: &mut Value) {
    let Some(obj) = variant.as_object_mut() else {
        return;
    };
    let Some(description) = obj.get("description").cloned() else {
        return;
    };
    for prop in obj
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|props| props.values_mut())
        .filter_map(Value::as_object_mut)
    {
        if prop.contains_key("const") && !prop.contains_key("description") {
            prop.insert("description".into(), description.clone());
        }
    }
}

/// The schema of a map whose keys are the names `K` allows (an enum's) and
/// whose values are `V`: `#[schemars(with = "MapOf<K, V>")]` on a
/// `BTreeMap<String, V>` field.
pub struct MapOf<K, V>(PhantomData<(K, V)>);

impl<K: JsonSchema, V: JsonSchema> JsonSchema for MapOf<K, V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("MapOf_{}_{}", K::schema_name(), V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": generator.subschema_for::<K>(),
            "additionalProperties": generator.subschema_for::<V>(),
        })
    }
}
