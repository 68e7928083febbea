//! End to end against a real cluster (KUBECONFIG): apply with waits, status, diff, prune, destroy.
//! Run with `cargo nextest run -p trinity-deploy --run-ignored only e2e` on a disposable cluster; the
//! images named in the values must be pullable there.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::time::Duration;
use trinity_deploy::cluster::{apply, destroy, diff, prune, status};
use trinity_deploy::{render, values};

fn e2e_manifests() -> Vec<trinity_deploy::object::Manifest> {
    let v = values::parse("e2e.yaml", "namespace: trinity-e2e\n").unwrap();
    render::render(&v).unwrap()
}

#[tokio::test]
#[ignore = "needs cluster (KUBECONFIG; creates and deletes namespace trinity-e2e)"]
async fn apply_status_diff_prune_destroy() {
    let client = kube::Client::try_default().await.unwrap();
    let ms = e2e_manifests();
    let opts = apply::ApplyOptions {
        wait: true,
        timeout: Duration::from_secs(600),
        poll: Duration::from_secs(2),
    };
    apply::apply_all(&client, &ms, "trinity-e2e", opts, &mut |r| println!("{r}"))
        .await
        .unwrap();
    let rows = status::status(&client, &ms).await.unwrap();
    assert!(
        rows.iter().all(|r| r.state == "ready"),
        "{}",
        status::table(&rows)
    );
    for m in &ms {
        assert_eq!(
            diff::diff_one(&client, m, "trinity-e2e").await.unwrap(),
            None,
            "{}",
            m.object.name()
        );
    }
    let plan = prune::prune(&client, "trinity-e2e", &ms, true, false)
        .await
        .unwrap();
    assert!(plan.delete.is_empty(), "{plan:?}");
    destroy::destroy(&client, &ms, true).await.unwrap();
}

#[tokio::test]
#[ignore = "needs cluster (KUBECONFIG; creates and deletes namespace trinity-e2e-noop)"]
async fn re_apply_is_a_no_op() {
    let client = kube::Client::try_default().await.unwrap();
    let v = values::parse("e2e.yaml", "namespace: trinity-e2e-noop\n").unwrap();
    let ms = render::render(&v).unwrap();
    let opts = apply::ApplyOptions {
        wait: false,
        timeout: Duration::from_secs(60),
        poll: Duration::from_secs(1),
    };
    apply::apply_all(&client, &ms, "trinity-e2e-noop", opts, &mut |_| {})
        .await
        .unwrap();
    let mut second = Vec::new();
    apply::apply_all(&client, &ms, "trinity-e2e-noop", opts, &mut |r| {
        second.push(r)
    })
    .await
    .unwrap();
    assert!(
        second
            .iter()
            .all(|r| r.ends_with("unchanged") || r.ends_with("kept (exists)")),
        "{second:?}"
    );
    destroy::destroy(&client, &ms, true).await.unwrap();
}
