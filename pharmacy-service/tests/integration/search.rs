//! Arabic-normalised full-text search over messages and customers.

use crate::support::*;

#[tokio::test]
async fn a_word_is_found_with_and_without_diacritics() {
    let w = World::new().await;
    let t = w
        .text("201001234567", "S1", "هل عندكم بَنَادُول إكسترا في الصيدلية؟")
        .await;
    w.text("201009999999", "S2", "أريد دواء للبرد").await;
    for q in [
        "بنادول",
        "بَنَادُول",
        "اكسترا",
        "صيدليه",
        "الصيدلية",
        "بناد",
        "panadol",
    ] {
        let hits = w.app.search_messages(q, None, 10).await.unwrap();
        let expected = usize::from(q != "panadol");
        assert_eq!(hits.len(), expected, "{q}");
    }
    assert_eq!(
        w.app
            .search_messages("ادويه", None, 10)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        w.app.search_messages("دواء", None, 10).await.unwrap().len(),
        1
    );
    // Scoped to the tickets an agent may see.
    assert_eq!(
        w.app
            .search_messages("بنادول", Some(&[t]), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        w.app
            .search_messages("بنادول", Some(&[]), 10)
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(
        w.app
            .search_messages("  \"* ", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn customers_are_found_by_name_and_either_spelling_of_the_number() {
    let w = World::new().await;
    w.text("201001234567", "C1", "hi").await;
    for q in ["01001234567", "٠١٠٠١٢٣٤٥٦٧", "201001234567", "mona"] {
        assert_eq!(w.app.search_customers(q, 10).await.unwrap().len(), 1, "{q}");
    }
    let listed = w
        .app
        .list_tickets(Default::default(), Some("0100123"), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}
