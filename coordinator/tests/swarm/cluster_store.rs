//! The cluster's store against a real `nats-server`: a swarm's log reads back what was
//! committed (large entries through the object store), a lease held by one node keeps the
//! swarm from another, an owner that stopped renewing is fenced by the log, and writes made
//! while NATS is down go out once it is back.

use std::time::Duration;

use ostrich_coordinator::{
    cluster::{
        ClusterSettings,
        lease::Holder,
        store::{Adoption, Cluster},
    },
    durable::{Batch, JobRecord, SwarmControls},
    store::Backend,
};
use ostrich_nats_harness::NatsServer;
use ostrich_protocol::{
    DeviceId, JobSpec, JobState, MatmulSpec, MatrixSource, ModuleHash, PowerPolicy, Record, RunState, SwarmId,
    TaskOutput,
};

use crate::common::poll;

fn settings(url: &str, lease_ttl: Duration) -> ClusterSettings {
    ClusterSettings {
        url: url.to_string(),
        lease_ttl,
        replicas: 1,
        prefix: "ostrich".into(),
        invite_ttl: Duration::from_secs(900),
        compact_after: ostrich_coordinator::cluster::log::COMPACT_AFTER,
    }
}

fn open(url: &str, lease_ttl: Duration) -> Cluster {
    Cluster::open(settings(url, lease_ttl), Duration::from_secs(10)).expect("open the cluster")
}

fn spec() -> JobSpec {
    JobSpec::Matmul(MatmulSpec { m: 8, k: 4, n: 8, tile: 4, source: MatrixSource::Seeded { seed: 1 } })
}

/// A paused swarm at 30 %.
fn controls() -> SwarmControls {
    SwarmControls { run_state: RunState::Paused, throttle: 30, power_policy: PowerPolicy::default() }
}

/// A new swarm with a job, two tiles (one later forgotten), a credential, a module large
/// enough for the object store and appended records.
fn first_commits(swarm: SwarmId) -> (Batch, Batch) {
    let record = JobRecord { swarm, state: JobState::Running, verification_failures: 1, redispatched: 2 };
    let mut first = Batch::default();
    first.swarm(swarm, "master key");
    first.controls(swarm, controls());
    first.spec(swarm, 1, &spec());
    first.job(1, &record);
    first.tile(swarm, 1, 3, &TaskOutput::MatmulTile { c: vec![1.5; 16] });
    first.tile(swarm, 1, 4, &TaskOutput::MatmulTile { c: vec![2.5; 16] });
    first.module(swarm, ModuleHash([7; 32]), &vec![42; 700 * 1024]);
    let mut second = Batch::default();
    second.revoke_tile(swarm, 1, 4);
    second.resume("credential", swarm, DeviceId::from_u128(9));
    second.records(swarm, 1, &[Record(vec![1, 2]), Record(vec![3])]);
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reads_back_what_was_committed_and_fences_an_owner_whose_lease_lapsed() {
    let nats = NatsServer::start().expect("nats-server");
    let lease = Duration::from_millis(1500);
    let (a, b) = (open(&nats.url(), lease), open(&nats.url(), lease));
    let swarm = SwarmId::new_v4();
    let (mut first, mut second) = first_commits(swarm);
    let mut backend_a = a.backend();
    assert_eq!(backend_a.commit(&mut first).expect("commit"), Vec::<SwarmId>::new());
    assert_eq!(backend_a.commit(&mut second).expect("commit"), Vec::<SwarmId>::new());
    assert!(first.is_empty() && second.is_empty(), "a commit takes what it wrote");
    assert_eq!(a.owned(), vec![swarm], "creating a swarm takes its lease");
    assert_eq!(b.lookup("master key").await.expect("lookup"), Some(swarm), "the index routes the key");
    assert_eq!(b.lookup("credential").await.expect("lookup"), Some(swarm), "and the credential");

    // While A renews, B cannot take the swarm, and A's renewals outlive the TTL.
    match b.adopt(swarm).await.expect("adopt") {
        Adoption::Theirs(node) => assert_eq!(node, a.node()),
        other => panic!("B took a swarm A holds: {other:?}"),
    }
    let taken_at = lease_revision(&a, swarm).await;
    // Four renewals, one every third of the TTL: the lease has outlived its first TTL.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while lease_revision(&a, swarm).await < taken_at + 4 {
        assert!(tokio::time::Instant::now() < deadline, "A does not renew its lease");
        tick.tick().await;
    }
    assert!(matches!(b.adopt(swarm).await.expect("adopt"), Adoption::Theirs(_)), "A's lease was renewed");

    // A stops renewing (as a paused process would): once its lease expires B takes over.
    a.stop_renewing();
    let adopted = poll_adopt(&b, swarm).await;
    assert_eq!(adopted.swarms, vec![(swarm, "master key".to_string())]);
    assert_eq!(adopted.resume, vec![("credential".to_string(), swarm, DeviceId::from_u128(9))]);
    assert_eq!(adopted.controls, vec![(swarm, controls())], "the master's controls came back");
    assert_eq!(adopted.modules.len(), 1);
    assert_eq!(adopted.modules[0].2.len(), 700 * 1024, "the module came back through the object store");
    assert_eq!(adopted.jobs.len(), 1);
    let job = &adopted.jobs[0];
    assert_eq!((job.id, &job.spec, job.record.redispatched), (1, &spec(), 2));
    assert_eq!(job.tiles, vec![(3, TaskOutput::MatmulTile { c: vec![1.5; 16] })], "the forgotten tile stays gone");
    assert_eq!(job.records, vec![Record(vec![1, 2]), Record(vec![3])]);

    // A, unaware, writes on: the log refuses it, and A learns it lost the swarm.
    let mut late = Batch::default();
    late.tile(swarm, 1, 5, &TaskOutput::MatmulTile { c: vec![9.0; 16] });
    assert_eq!(backend_a.commit(&mut late).expect("commit"), vec![swarm], "the stale epoch is refused");
    assert!(a.owned().is_empty());

    // B's writes go on, and a third node reads B's state, without A's refused tile.
    let mut from_b = Batch::default();
    from_b.tile(swarm, 1, 6, &TaskOutput::MatmulTile { c: vec![6.0; 16] });
    assert_eq!(b.backend().commit(&mut from_b).expect("commit"), Vec::<SwarmId>::new());
    b.stop_renewing();
    b.release(swarm).await;
    let c = open(&nats.url(), lease);
    assert_eq!(c.orphans().await.expect("orphans"), vec![swarm], "a log without a lease is an orphan");
    let restored = poll_adopt(&c, swarm).await;
    let indices: Vec<u32> = restored.jobs[0].tiles.iter().map(|(i, _)| *i).collect();
    assert_eq!(indices, vec![3, 6], "a released lease is taken at once, and the log holds B's write only");
    assert_eq!(c.orphans().await.expect("orphans"), Vec::<SwarmId>::new(), "an owned swarm is no orphan");

    // C removes the swarm: its log goes, and so does the module's object.
    assert_eq!(objects_of(&nats, swarm).await, 1, "the module went through the object store");
    let mut forget = Batch::default();
    forget.forget(swarm);
    assert_eq!(c.backend().commit(&mut forget).expect("commit"), Vec::<SwarmId>::new());
    assert_eq!(objects_of(&nats, swarm).await, 0, "a removed swarm's objects are deleted");
    assert!(c.orphans().await.expect("orphans").is_empty(), "and its log is gone");
    assert!(matches!(c.adopt(swarm).await.expect("adopt"), Adoption::Unknown));
}

/// After its compaction threshold an owner folds the log into a snapshot: the entries are
/// purged (all but the last), a deleted job's results and the first entry's object leave
/// NATS, and a new owner reads back exactly what was committed, before and after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_log_reads_back_the_same_without_what_was_deleted() {
    let nats = NatsServer::start().expect("nats-server");
    let compacting = |url: &str| {
        let settings = ClusterSettings { compact_after: 4, ..settings(url, Duration::from_secs(30)) };
        Cluster::open(settings, Duration::from_secs(10)).expect("open the cluster")
    };
    let (a, b) = (compacting(&nats.url()), compacting(&nats.url()));
    let swarm = SwarmId::new_v4();
    let (mut first, _) = first_commits(swarm);
    let mut backend = a.backend();
    backend.commit(&mut first).expect("commit");
    let record = JobRecord { swarm, state: JobState::Running, verification_failures: 0, redispatched: 0 };
    let mut second = Batch::default();
    second.spec(swarm, 2, &spec());
    second.job(2, &record);
    second.tile(swarm, 2, 0, &TaskOutput::MatmulTile { c: vec![8.0; 16] });
    let mut deleted = Batch::default();
    deleted.delete(swarm, 2);
    let mut fourth = Batch::default();
    fourth.tile(swarm, 1, 5, &TaskOutput::MatmulTile { c: vec![5.0; 16] });
    for batch in [&mut second, &mut deleted, &mut fourth] {
        assert_eq!(backend.commit(batch).expect("commit"), Vec::<SwarmId>::new());
    }
    // The fourth append starts the compaction: it ends with one entry left in the log and
    // one object, the snapshot's (the first entry's is deleted).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while log_entries(&nats, swarm).await != 1 || objects_of(&nats, swarm).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the log was not compacted");
        tick.tick().await;
    }
    // Appends go on after the snapshot.
    let mut later = Batch::default();
    later.tile(swarm, 1, 6, &TaskOutput::MatmulTile { c: vec![6.0; 16] });
    assert_eq!(backend.commit(&mut later).expect("commit"), Vec::<SwarmId>::new(), "the owner still writes");

    a.stop_renewing();
    a.release(swarm).await;
    let restored = poll_adopt(&b, swarm).await;
    assert_eq!(restored.swarms, vec![(swarm, "master key".to_string())]);
    assert_eq!(restored.controls, vec![(swarm, controls())]);
    assert_eq!(restored.modules.len(), 1, "the module is in the snapshot");
    assert_eq!(restored.modules[0].2.len(), 700 * 1024);
    let jobs: Vec<u64> = restored.jobs.iter().map(|job| job.id).collect();
    assert_eq!(jobs, vec![1], "the deleted job is gone");
    let tiles: Vec<(u32, TaskOutput)> = restored.jobs[0].tiles.clone();
    assert_eq!(
        tiles,
        vec![
            (3, TaskOutput::MatmulTile { c: vec![1.5; 16] }),
            (4, TaskOutput::MatmulTile { c: vec![2.5; 16] }),
            (5, TaskOutput::MatmulTile { c: vec![5.0; 16] }),
            (6, TaskOutput::MatmulTile { c: vec![6.0; 16] }),
        ],
        "every verified tile, before and after the snapshot"
    );
}

/// How many entries `swarm`'s log holds now.
async fn log_entries(nats: &NatsServer, swarm: SwarmId) -> usize {
    use futures_util::StreamExt;
    let settings = settings(&nats.url(), Duration::ZERO);
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let stream = async_nats::jetstream::new(client).get_stream(settings.log_stream()).await.expect("the log");
    let mut subjects = stream.info_with_subjects(settings.log_subject(swarm)).await.expect("subjects");
    let mut count = 0;
    while let Some(subject) = subjects.next().await {
        count += subject.expect("a subject").1;
    }
    count
}

/// How many objects of `swarm`'s log entries the object store holds.
async fn objects_of(nats: &NatsServer, swarm: SwarmId) -> usize {
    use futures_util::StreamExt;
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let blobs = async_nats::jetstream::new(client)
        .get_object_store(settings(&nats.url(), Duration::ZERO).blob_bucket())
        .await
        .expect("object store");
    let mut objects = blobs.list().await.expect("list");
    let mut count = 0;
    while let Some(object) = objects.next().await {
        count += usize::from(object.expect("object").name.starts_with(&swarm.simple().to_string()));
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_while_nats_is_down_go_out_when_it_is_back() {
    let mut nats = NatsServer::start().expect("nats-server");
    let a = open(&nats.url(), Duration::from_secs(30));
    let swarm = SwarmId::new_v4();
    let (mut first, _) = first_commits(swarm);
    let mut backend = a.backend();
    backend.commit(&mut first).expect("commit");

    nats.stop();
    poll("the client to notice", Duration::from_secs(10), || (!a.nats().connected()).then_some(())).await;
    let mut during = Batch::default();
    during.tile(swarm, 1, 7, &TaskOutput::MatmulTile { c: vec![7.0; 16] });
    assert!(backend.commit(&mut during).is_err(), "no NATS, no commit");
    assert!(!during.is_empty(), "the writes wait in the batch");

    nats.restart().expect("restart nats-server");
    poll("the client to reconnect", Duration::from_secs(15), || a.nats().connected().then_some(())).await;
    assert_eq!(backend.commit(&mut during).expect("commit after the restart"), Vec::<SwarmId>::new());
    assert!(during.is_empty());

    a.stop_renewing();
    a.release(swarm).await;
    let b = open(&nats.url(), Duration::from_secs(30));
    let restored = poll_adopt(&b, swarm).await;
    let indices: Vec<u32> = restored.jobs[0].tiles.iter().map(|(i, _)| *i).collect();
    assert_eq!(indices, vec![3, 4, 7], "nothing accepted before or during the outage is lost");
}

/// The revision of `cluster`'s own lease on `swarm`.
async fn lease_revision(cluster: &Cluster, swarm: SwarmId) -> u64 {
    match cluster.holder(swarm).await.expect("holder") {
        Some(Holder::Us(revision)) => revision,
        other => panic!("the lease is not this node's: {other:?}"),
    }
}

/// Tries to adopt `swarm` every 100 ms until this node owns it.
async fn poll_adopt(cluster: &Cluster, swarm: SwarmId) -> ostrich_coordinator::durable::Restored {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        match cluster.adopt(swarm).await.expect("adopt") {
            Adoption::Ours(restored) => return restored,
            Adoption::Unknown => panic!("swarm {swarm} has no log"),
            Adoption::Theirs(_) => assert!(tokio::time::Instant::now() < deadline, "the lease never expired"),
        }
    }
}
