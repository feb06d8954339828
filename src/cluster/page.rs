//! One LIST page decoded in a single pass: the continue token is handed on as soon as the
//! page's metadata is read (the API server writes it before the items), so the next page can be
//! asked for while this one's items are still being decoded; each item is mapped as it is
//! decoded, so no page of whole objects is ever held.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Decode `text`, a LIST answer: `on_continue` gets the continue token (if the list goes on) the
/// moment it is read; every item is decoded as `V`, mapped and pushed to `out`. Returns the token.
pub fn decode<V, T>(
    text: &str,
    on_continue: impl FnOnce(&str),
    map: &mut impl FnMut(V) -> T,
    out: &mut Vec<T>,
) -> serde_json::Result<Option<String>>
where
    V: DeserializeOwned,
{
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let token = PageSeed {
        on_continue: Some(on_continue),
        map,
        out,
        item: PhantomData,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(token)
}

struct PageSeed<'a, C, M, V, T> {
    on_continue: Option<C>,
    map: &'a mut M,
    out: &'a mut Vec<T>,
    item: PhantomData<V>,
}

impl<'de, C, M, V, T> DeserializeSeed<'de> for PageSeed<'_, C, M, V, T>
where
    C: FnOnce(&str),
    M: FnMut(V) -> T,
    V: DeserializeOwned,
{
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, C, M, V, T> Visitor<'de> for PageSeed<'_, C, M, V, T>
where
    C: FnOnce(&str),
    M: FnMut(V) -> T,
    V: DeserializeOwned,
{
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut token = None;
        while let Some(key) = map.next_key::<PageKey>()? {
            match key {
                PageKey::Metadata => {
                    let meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta = map.next_value()?;
                    token = meta.continue_.filter(|c| !c.is_empty());
                    if let (Some(t), Some(on_continue)) = (&token, self.on_continue.take()) {
                        on_continue(t);
                    }
                }
                PageKey::Items => map.next_value_seed(ItemsSeed {
                    map: &mut *self.map,
                    out: &mut *self.out,
                    item: PhantomData,
                })?,
                PageKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(token)
    }
}

/// The keys of a list that matter here.
enum PageKey {
    Metadata,
    Items,
    Other,
}

impl<'de> serde::Deserialize<'de> for PageKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = PageKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, key: &str) -> Result<PageKey, E> {
                Ok(match key {
                    "metadata" => PageKey::Metadata,
                    "items" => PageKey::Items,
                    _ => PageKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The items array (or `null`: a metadata LIST that matches nothing says so).
struct ItemsSeed<'a, M, V, T> {
    map: &'a mut M,
    out: &'a mut Vec<T>,
    item: PhantomData<V>,
}

impl<'de, M, V, T> DeserializeSeed<'de> for ItemsSeed<'_, M, V, T>
where
    M: FnMut(V) -> T,
    V: DeserializeOwned,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, M, V, T> Visitor<'de> for ItemsSeed<'_, M, V, T>
where
    M: FnMut(V) -> T,
    V: DeserializeOwned,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of items")
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        if let Some(size) = items.size_hint() {
            self.out.reserve(size);
        }
        while let Some(item) = items.next_element::<V>()? {
            self.out.push((self.map)(item));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Named {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        name: String,
    }

    fn names(text: &str) -> (Option<String>, Option<String>, Vec<String>) {
        let mut told = None;
        let mut out = Vec::new();
        let token = decode(
            text,
            |t| told = Some(t.to_string()),
            &mut |n: Named| n.metadata.name,
            &mut out,
        )
        .unwrap();
        (token, told, out)
    }

    #[test]
    fn the_continue_token_is_told_before_the_items_are_decoded_and_items_are_mapped_in_order() {
        let text = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"abc","remainingItemCount":3},
            "items":[{"metadata":{"name":"a","uid":"1"},"spec":{}},{"metadata":{"name":"b"}}]}"#;
        let mut order = Vec::new();
        let mut out = Vec::new();
        let token = {
            let order = std::cell::RefCell::new(&mut order);
            decode(
                text,
                |t| order.borrow_mut().push(format!("token {t}")),
                &mut |n: Named| {
                    order.borrow_mut().push(format!("item {}", n.metadata.name));
                    n.metadata.name
                },
                &mut out,
            )
            .unwrap()
        };
        assert_eq!(token.as_deref(), Some("abc"));
        assert_eq!(order, ["token abc", "item a", "item b"]);
        assert_eq!(out, ["a", "b"]);
    }

    #[test]
    fn a_last_page_an_empty_token_and_null_items_end_the_list() {
        assert_eq!(names(r#"{"metadata":{},"items":[]}"#), (None, None, vec![]));
        assert_eq!(
            names(r#"{"metadata":{"continue":""},"items":null}"#),
            (None, None, vec![])
        );
        let (token, told, out) = names(r#"{"items":[{"metadata":{"name":"x"}}],"metadata":{"continue":"t"}}"#);
        assert_eq!(
            (token.as_deref(), told.as_deref(), out),
            (Some("t"), Some("t"), vec!["x".to_string()])
        );
    }

    #[test]
    fn a_page_that_is_not_a_list_is_an_error() {
        let mut out: Vec<String> = Vec::new();
        let mut map = |n: Named| n.metadata.name;
        assert!(decode(
            r#"{"metadata":{},"items":[{"metadata":{}}]}"#,
            |_| {},
            &mut map,
            &mut out
        )
        .is_err());
        assert!(decode(r#"[1]"#, |_| {}, &mut map, &mut out).is_err());
        assert!(decode(r#"{"metadata":{}} trailing"#, |_| {}, &mut map, &mut out).is_err());
    }
}
