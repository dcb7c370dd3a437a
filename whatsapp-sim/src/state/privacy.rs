//! The account's privacy settings (`xmlns="privacy"`): read and changed by its companions.

use std::collections::BTreeMap;

use whatsapp_proto::binary::Node;

use super::{DeviceKey, State, iq_error, iq_result};

/// A new account's settings, by category (whatsmeow `types/user.go` names every category and
/// value; guess: the values a fresh WhatsApp account shows in its privacy screen).
const DEFAULTS: [(&str, &str); 10] = [
    ("calladd", "all"),
    ("defense", "off"),
    ("groupadd", "all"),
    ("last", "all"),
    ("messages", "all"),
    ("online", "all"),
    ("profile", "all"),
    ("readreceipts", "all"),
    ("status", "contacts"),
    ("stickers", "contacts"),
];

/// The values each category accepts (whatsmeow `types/user.go`).
fn accepts(name: &str, value: &str) -> bool {
    let values: &[&str] = match name {
        "groupadd" | "last" | "status" | "profile" => {
            &["all", "contacts", "contact_blacklist", "none"]
        }
        "readreceipts" => &["all", "none"],
        "online" => &["all", "match_last_seen"],
        "calladd" => &["all", "known"],
        "messages" => &["all", "contacts"],
        "defense" => &["on_standard", "off"],
        "stickers" => &["contacts", "contact_allowlist", "none"],
        _ => &[],
    };
    values.contains(&value)
}

impl State {
    /// Answers a privacy IQ: `get` lists every category (whatsmeow `privacysettings.go`
    /// `TryFetchPrivacySettings` reads `<privacy><category name value/>…`), `set` changes the
    /// categories it names.
    pub(super) fn privacy_iq(
        &mut self,
        key: &DeviceKey,
        id: &str,
        kind: &str,
        node: &Node,
    ) -> Node {
        let settings = self.privacy.entry(key.0.clone()).or_insert_with(|| {
            DEFAULTS
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        });
        match kind {
            "get" => iq_result(id).children([Node::new("privacy").children(settings.iter().map(
                |(name, value)| {
                    Node::new("category")
                        .attr("name", name.clone())
                        .attr("value", value.clone())
                },
            ))]),
            "set" => {
                let changes: Vec<(String, String)> = node
                    .child("privacy")
                    .map(|p| {
                        p.children_by_tag("category")
                            .filter_map(|c| {
                                let attrs = c.attrs();
                                Some((
                                    attrs.optional_string("name")?,
                                    attrs.optional_string("value")?,
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if changes.is_empty() || !changes.iter().all(|(n, v)| accepts(n, v)) {
                    return iq_error(id, 400, "bad-request");
                }
                settings.extend(changes);
                iq_result(id)
            }
            _ => iq_error(id, 400, "bad-request"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, iq, state};
    use super::*;

    /// What whatsmeow's `parsePrivacySettings` takes from an answer: each `<category>`'s name
    /// and value (both required by its attribute getter).
    fn parsed(answer: &Node) -> BTreeMap<String, String> {
        let privacy = answer.child("privacy").expect("a <privacy> child");
        privacy
            .children_by_tag("category")
            .map(|c| {
                let attrs = c.attrs();
                (
                    attrs.optional_string("name").expect("name"),
                    attrs.optional_string("value").expect("value"),
                )
            })
            .collect()
    }

    #[test]
    fn the_settings_are_answered_and_changed_as_whatsmeow_reads_them() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        let get = || iq("P1", "privacy", "get", vec![Node::new("privacy")]);
        state.handle(&conn.key.clone(), get());
        let settings = parsed(&conn.one("iq"));
        assert_eq!(settings.len(), DEFAULTS.len());
        assert!(settings.iter().all(|(n, v)| accepts(n, v)), "{settings:?}");
        assert_eq!(settings["readreceipts"], "all");

        let set = |value: &str| {
            iq(
                "P2",
                "privacy",
                "set",
                vec![
                    Node::new("privacy").children([Node::new("category")
                        .attr("name", "readreceipts")
                        .attr("value", value)]),
                ],
            )
        };
        state.handle(&conn.key.clone(), set("none"));
        assert_eq!(conn.one("iq").attrs().optional_str("type"), Some("result"));
        state.handle(&conn.key.clone(), set("contacts"));
        assert_eq!(conn.one("iq").attrs().optional_str("type"), Some("error"));
        state.handle(&conn.key.clone(), get());
        assert_eq!(parsed(&conn.one("iq"))["readreceipts"], "none");
    }
}
