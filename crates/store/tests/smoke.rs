use store::{NewLead, Store, StoreConfig};
#[tokio::test]
async fn smoke() -> Result<(), Box<dyn std::error::Error>> {
    let url = store::test_support::fresh_database().await?;
    let store = Store::connect(&StoreConfig::new(url)).await?;
    store.readiness().await?;
    let id = store
        .accounts()
        .create_user("a@example.com", "$argon2id$x")
        .await?;
    let mut tx = store.as_user(id).await?;
    let lead = tx
        .lead_create(NewLead::new("Ana", "+44 20 7946 0958"))
        .await?;
    assert_eq!(tx.leads_list().await?, vec![lead]);
    tx.commit().await?;
    Ok(())
}
