//! A fake API server for the engine tests, served to a kube `Client` through tower-test's mock
//! service: Secrets, Deployments (a rollout completes at once, or fails for the Secret
//! revisions a test names), SealedSecrets, access reviews and /version, kept in memory, with
//! JSON merge patches, resourceVersion preconditions, paged LISTs and streamed watches. Faults
//! are scripted per request: someone else's edit just before it, or an interruption (the run
//! never gets an answer, as when the process is killed) before or after the server acted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt as _;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use kube::client::Body;
use kubectl_secrets::cluster::Connection;
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot};

pub type Reply = Response<BoxBody<Bytes, Infallible>>;
type Key = (String, String, String);

/// What a rule does to the request it matches.
pub enum Fault {
    /// Someone else changes the object (this merge patch, their field manager) just before.
    EditFirst(Value),
    /// The server never answers: the run stops there (as when it is killed), before the server
    /// acted (`applied: false`) or after (`applied: true`). The test is told through `reached`.
    Interrupt {
        applied: bool,
        reached: oneshot::Sender<()>,
    },
    /// The server answers 200 with this body, whatever was asked (a broken proxy, say).
    Answer(String),
}

struct Rule {
    method: Method,
    path: String,
    /// Only requests whose body contains this text (e.g. `"data"` for a write of data).
    body_has: Option<String>,
    /// Act on the nth matching request (1-based).
    nth: usize,
    seen: usize,
    fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uids: u64,
    rules: Vec<Rule>,
    /// "METHOD path?query" of every request, in order.
    log: Vec<String>,
    /// Deployment name → the secret-revisions annotation its rollout fails for.
    fail_for: BTreeMap<String, String>,
    /// Answers never sent (interrupted requests): kept so the client never sees them fail.
    held: Vec<tower_test::mock::SendResponse<Reply>>,
}

#[derive(Clone)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<(String, String, Value)>,
}

pub const NAMESPACE: &str = "shop";

impl Fake {
    /// A fake server and a connection to it.
    pub fn start() -> (Fake, Connection) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Reply>();
        let (events, _) = broadcast::channel(1024);
        let fake = Fake {
            state: Arc::default(),
            events,
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve(request, send).await });
            }
        });
        let client = kube::Client::new(service, NAMESPACE);
        let conn = Connection {
            client,
            default_namespace: NAMESPACE.into(),
            context: "fake".into(),
            server: "https://fake.invalid".into(),
            ca_fingerprint: "fake".into(),
            exec_plugin: None,
            server_dry_run: false,
        };
        (fake, conn)
    }

    /// Put an object in place (as created by someone before the test).
    pub fn insert(&self, plural: &str, mut object: Value) {
        let mut state = self.state.lock().unwrap();
        state.rv += 1;
        state.uids += 1;
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(NAMESPACE)
            .to_string();
        object["metadata"]["namespace"] = json!(namespace);
        object["metadata"]["resourceVersion"] = json!(state.rv.to_string());
        object["metadata"]["uid"] = json!(format!("uid-{}", state.uids));
        object["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        state.objects.insert((plural.into(), namespace, name), object);
    }

    pub fn get(&self, plural: &str, name: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .get(&(plural.to_string(), NAMESPACE.to_string(), name.to_string()))
            .cloned()
    }

    /// Names of the objects of a kind.
    pub fn names(&self, plural: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .keys()
            .filter(|(p, _, _)| p == plural)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// The rollout of `deployment` fails when started for exactly these Secret revisions.
    pub fn fail_rollout_for(&self, deployment: &str, revisions: &str) {
        let mut state = self.state.lock().unwrap();
        state.fail_for.insert(deployment.into(), revisions.into());
    }

    /// Script a fault for the nth request of `method` to a path ending in `path`.
    pub fn on(&self, method: Method, path: &str, body_has: Option<&str>, nth: usize, fault: Fault) {
        self.state.lock().unwrap().rules.push(Rule {
            method,
            path: path.into(),
            body_has: body_has.map(str::to_string),
            nth,
            seen: 0,
            fault: Some(fault),
        });
    }

    /// The same world, independent from here on (one run of resume, another of abort).
    pub fn fork(&self) -> (Fake, Connection) {
        let (copy, conn) = Fake::start();
        {
            let from = self.state.lock().unwrap();
            let mut to = copy.state.lock().unwrap();
            to.objects = from.objects.clone();
            to.rv = from.rv;
            to.uids = from.uids;
            to.fail_for = from.fail_for.clone();
        }
        (copy, conn)
    }

    async fn serve(&self, request: Request<Body>, send: tower_test::mock::SendResponse<Reply>) {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let fault = {
            let mut state = self.state.lock().unwrap();
            state.log.push(format!("{} {path}?{query}", parts.method));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut fault = None;
            for rule in state.rules.iter_mut().filter(|r| r.fault.is_some()) {
                let matches = rule.method == parts.method
                    && path.ends_with(&rule.path)
                    && rule.body_has.as_ref().is_none_or(|t| text.contains(t.as_str()));
                if matches {
                    rule.seen += 1;
                    if rule.seen == rule.nth {
                        fault = rule.fault.take();
                        break;
                    }
                }
            }
            fault
        };
        let reply = match fault {
            Some(Fault::EditFirst(patch)) => {
                self.edit_as_someone_else(&path, &patch);
                self.answer(&parts.method, &path, &query, body)
            }
            Some(Fault::Interrupt { applied, reached }) => {
                if applied {
                    let _ = self.answer(&parts.method, &path, &query, body);
                }
                self.state.lock().unwrap().held.push(send);
                let _ = reached.send(());
                return;
            }
            Some(Fault::Answer(text)) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(BoxBody::new(Full::new(Bytes::from(text))))
                .unwrap(),
            None => self.answer(&parts.method, &path, &query, body),
        };
        send.send_response(reply);
    }

    fn edit_as_someone_else(&self, path: &str, patch: &Value) {
        let (plural, namespace, name) = parse(path).expect("an object path");
        let mut state = self.state.lock().unwrap();
        let key = (plural, namespace, name.expect("a named object"));
        let mut object = state.objects.get(&key).cloned().expect("the object exists");
        merge(&mut object, patch);
        record_manager(&mut object, "kubectl-edit", patch);
        state.rv += 1;
        object["metadata"]["resourceVersion"] = json!(state.rv.to_string());
        state.objects.insert(key, object);
    }

    fn answer(&self, method: &Method, path: &str, query: &str, body: Value) -> Reply {
        match path {
            "/version" => {
                return ok(
                    json!({"major": "1", "minor": "37", "gitVersion": "v1.37.2", "gitCommit": "",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.26",
                "compiler": "gc", "platform": "linux/amd64"}),
                )
            }
            p if p.ends_with("/selfsubjectaccessreviews") => {
                let mut review = body;
                review["status"] = json!({"allowed": true});
                return ok(review);
            }
            p if p.ends_with("/selfsubjectreviews") => {
                return ok(
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                    "status": {"userInfo": {"username": "fake-admin"}}}),
                )
            }
            _ => {}
        }
        let Some((plural, namespace, name)) = parse(path) else {
            return status(StatusCode::NOT_FOUND, "NotFound", "no such path");
        };
        let param = |key: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .map(|v| v.replace("%3D", "=").replace("%2C", ","))
        };
        match (method.as_str(), name) {
            ("GET", None) if param("watch").as_deref() == Some("true") => {
                self.watch(&plural, &namespace, param("resourceVersion"))
            }
            ("GET", None) => self.list(&plural, &namespace, param("limit"), param("continue")),
            ("GET", Some(name)) => match self.state.lock().unwrap().objects.get(&(plural, namespace, name)) {
                Some(object) => ok(object.clone()),
                None => status(StatusCode::NOT_FOUND, "NotFound", "not found"),
            },
            ("POST", None) => self.create(&plural, &namespace, body, param("fieldManager")),
            ("PATCH", Some(name)) => self.patch(&plural, &namespace, &name, body, param("fieldManager")),
            ("DELETE", Some(name)) => self.delete(&plural, &namespace, &name, &body),
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "not supported by the fake",
            ),
        }
    }

    fn list(&self, plural: &str, namespace: &str, limit: Option<String>, token: Option<String>) -> Reply {
        let state = self.state.lock().unwrap();
        let all: Vec<&Value> = state
            .objects
            .iter()
            .filter(|((p, ns, _), _)| p == plural && (namespace.is_empty() || ns == namespace))
            .map(|(_, o)| o)
            .collect();
        let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let limit: usize = limit.and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
        let page: Vec<&Value> = all.iter().skip(start).take(limit).copied().collect();
        let mut metadata = json!({"resourceVersion": state.rv.to_string()});
        if start + page.len() < all.len() {
            metadata["continue"] = json!((start + page.len()).to_string());
        }
        ok(json!({"apiVersion": "v1", "kind": "List", "metadata": metadata, "items": page}))
    }

    fn watch(&self, plural: &str, namespace: &str, since: Option<String>) -> Reply {
        let since: u64 = since.and_then(|s| s.parse().ok()).unwrap_or(0);
        let receiver = self.events.subscribe();
        let replay: Vec<Value> = {
            let state = self.state.lock().unwrap();
            state
                .objects
                .iter()
                .filter(|((p, ns, _), _)| p == plural && ns == namespace)
                .filter(|(_, o)| rv_of(o) > since)
                .map(|(_, o)| json!({"type": "MODIFIED", "object": o}))
                .collect()
        };
        let (plural, namespace) = (plural.to_string(), namespace.to_string());
        let live = tokio_stream_of(receiver).filter_map(move |(p, ns, event)| {
            let wanted = p == plural && ns == namespace;
            async move { wanted.then_some(event) }
        });
        let lines = futures::stream::iter(replay)
            .chain(live)
            .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{event}\n")))));
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(BoxBody::new(StreamBody::new(lines)))
            .unwrap()
    }

    fn create(&self, plural: &str, namespace: &str, mut object: Value, manager: Option<String>) -> Reply {
        let mut state = self.state.lock().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let key = (plural.to_string(), namespace.to_string(), name.clone());
        if state.objects.contains_key(&key) {
            return status(StatusCode::CONFLICT, "AlreadyExists", &format!("{name} already exists"));
        }
        state.rv += 1;
        state.uids += 1;
        object["metadata"]["namespace"] = json!(namespace);
        object["metadata"]["resourceVersion"] = json!(state.rv.to_string());
        object["metadata"]["uid"] = json!(format!("uid-{}", state.uids));
        object["metadata"]["creationTimestamp"] = json!(now());
        if let Some(manager) = manager {
            let fields = object.clone();
            record_manager(&mut object, &manager, &fields);
        }
        state.objects.insert(key, object.clone());
        drop(state);
        self.publish(plural, namespace, "ADDED", &object);
        ok(object)
    }

    fn patch(&self, plural: &str, namespace: &str, name: &str, patch: Value, manager: Option<String>) -> Reply {
        let mut state = self.state.lock().unwrap();
        let key = (plural.to_string(), namespace.to_string(), name.to_string());
        let Some(mut object) = state.objects.get(&key).cloned() else {
            return status(StatusCode::NOT_FOUND, "NotFound", "not found");
        };
        if let Some(expected) = patch["metadata"]["resourceVersion"].as_str() {
            if Some(expected) != object["metadata"]["resourceVersion"].as_str() {
                return status(StatusCode::CONFLICT, "Conflict", "the object has been modified");
            }
        }
        let template_before = object["spec"]["template"].clone();
        merge(&mut object, &patch);
        if let Some(manager) = manager {
            record_manager(&mut object, &manager, &patch);
        }
        state.rv += 1;
        object["metadata"]["resourceVersion"] = json!(state.rv.to_string());
        if plural == "deployments" && object["spec"]["template"] != template_before {
            roll_out(&mut object, state.fail_for.get(name));
        }
        state.objects.insert(key, object.clone());
        drop(state);
        self.publish(plural, namespace, "MODIFIED", &object);
        ok(object)
    }

    fn delete(&self, plural: &str, namespace: &str, name: &str, options: &Value) -> Reply {
        let mut state = self.state.lock().unwrap();
        let key = (plural.to_string(), namespace.to_string(), name.to_string());
        let Some(object) = state.objects.get(&key).cloned() else {
            return status(StatusCode::NOT_FOUND, "NotFound", "not found");
        };
        if let Some(uid) = options["preconditions"]["uid"].as_str() {
            if Some(uid) != object["metadata"]["uid"].as_str() {
                return status(StatusCode::CONFLICT, "Conflict", "uid precondition failed");
            }
        }
        state.objects.remove(&key);
        drop(state);
        self.publish(plural, namespace, "DELETED", &object);
        ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
    }

    fn publish(&self, plural: &str, namespace: &str, kind: &str, object: &Value) {
        let _ = self
            .events
            .send((plural.into(), namespace.into(), json!({"type": kind, "object": object})));
    }
}

/// `/api/v1/namespaces/NS/PLURAL[/NAME]`, `/apis/G/V/namespaces/NS/PLURAL[/NAME]`, and the
/// cluster-wide `/api/v1/PLURAL` (namespace "").
fn parse(path: &str) -> Option<(String, String, Option<String>)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rest = match parts.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        ["namespaces", ns, plural] => Some((plural.to_string(), ns.to_string(), None)),
        ["namespaces", ns, plural, name] => Some((plural.to_string(), ns.to_string(), Some(name.to_string()))),
        [plural] => Some((plural.to_string(), String::new(), None)),
        _ => None,
    }
}

/// What the Deployment controller and the kubelets do: a new ReplicaSet becomes ready at once,
/// unless the pods are started for the revisions this Deployment is set to fail with.
fn roll_out(deployment: &mut Value, fail_for: Option<&String>) {
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
    deployment["metadata"]["generation"] = json!(generation);
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let stamped = deployment["spec"]["template"]["metadata"]["annotations"]["kubectl-secrets.io/secret-revisions"]
        .as_str()
        .map(str::to_string);
    deployment["status"] = if fail_for.is_some() && stamped.as_ref() == fail_for {
        json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": 0,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
    } else {
        json!({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas})
    };
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in patch {
        if key == "resourceVersion" {
            continue;
        }
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// A managedFields entry for `manager`, owning data when the change touched data.
fn record_manager(object: &mut Value, manager: &str, change: &Value) {
    if change.get("data").is_none() && change.get("stringData").is_none() {
        return;
    }
    let entry = json!({"manager": manager, "operation": "Update", "apiVersion": "v1", "time": now(),
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}});
    let fields = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut kept: Vec<Value> = fields.into_iter().filter(|e| e["manager"] != manager).collect();
    kept.push(entry);
    object["metadata"]["managedFields"] = json!(kept);
}

fn rv_of(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap().to_string()
}

fn ok(value: Value) -> Reply {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(BoxBody::new(Full::new(Bytes::from(value.to_string()))))
        .unwrap()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Reply {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
        "message": message, "code": code.as_u16()});
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(BoxBody::new(Full::new(Bytes::from(body.to_string()))))
        .unwrap()
}

/// A broadcast receiver as a stream (lagged messages skipped).
fn tokio_stream_of<T: Clone + Send + 'static>(
    receiver: broadcast::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => return Some((item, receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
