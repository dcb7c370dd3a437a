#![no_main]
//! Any bytes: the borrowed decoder never panics and agrees with the owned one (the same
//! node or the same error), and its accessors read what the owned node holds.

use libfuzzer_sys::fuzz_target;
use whatsapp_proto::binary::{decode_node, decode_node_ref};

fuzz_target!(|data: &[u8]| {
    let owned = decode_node(data);
    let borrowed = decode_node_ref(data);
    match (&borrowed, &owned) {
        (Ok(tree), Ok(node)) => {
            let root = tree.root();
            assert_eq!(root.to_node(), *node);
            assert_eq!(root.tag(), node.tag.as_str());
            assert_eq!(root.attr_count(), node.attrs.len());
            for (key, value) in root.attr_iter() {
                // The first attribute of a name wins in both models.
                assert_eq!(root.attr(key).map(|v| v.to_value()).as_ref(), node.attr_value(key));
                let _ = value.to_string();
            }
            assert_eq!(root.children().len(), node.child_nodes().len());
            let _ = format!("{tree:?}");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("decoders disagree: {:?} vs {:?}", borrowed.map(|t| t.root().to_node()), owned),
    }
});
