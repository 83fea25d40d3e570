//! The OpenAPI schema of string enums whose wire names a macro writes (`wire!` in `library.rs`,
//! `kinds!` in `alerts`): utoipa's derive cannot read a `#[serde(rename = $text)]` that a macro
//! expands, so these enums describe themselves from the same names serde uses.

/// The schema of a string enum whose wire names a macro writes (the derive cannot see them):
/// `names` in order, `doc` its doc comment.
pub fn names_schema(
    doc: &str,
    names: &[&str],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let description: Vec<&str> = doc.lines().map(str::trim).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description.join("\n").trim().to_owned()))
        .enum_values(Some(names.iter().copied()))
        .into()
}
