use super::methods::file_stem;
use super::selectors_yml::{default_selector, parse_selectors};
use super::state::parse_loaded_at;
use super::*;
use serde_json::json;

fn node(uid: &str, deps: &[&str]) -> SelectNode {
    let parts: Vec<&str> = uid.split('.').collect();
    let resource_type = parts[0].to_string();
    let package = parts[1].to_string();
    let name = parts.last().copied().unwrap_or_default().to_string();
    SelectNode {
        unique_id: uid.to_string(),
        name: name.clone(),
        resource_type,
        package_name: package.clone(),
        fqn: vec![package, name],
        original_file_path: String::new(),
        tags: vec![],
        config: json!({"enabled": true}),
        source_name: None,
        test_type: None,
        test_name: None,
        depends_on: deps.iter().map(|s| s.to_string()).collect(),
        attached_node: None,
    }
}

fn model(name: &str, folder: &str, deps: &[&str], tags: &[&str], config: Value) -> SelectNode {
    let mut n = node(&format!("model.shop.{name}"), deps);
    n.fqn = vec!["shop".into(), folder.into(), name.into()];
    n.original_file_path = format!("models/{folder}/{name}.sql");
    n.tags = tags.iter().map(|s| s.to_string()).collect();
    n.config = config;
    n
}

fn test(
    name: &str,
    deps: &[&str],
    test_name: Option<&str>,
    path: &str,
    severity: &str,
) -> SelectNode {
    let mut n = node(&format!("test.shop.{name}.abc123"), deps);
    n.name = name.into();
    n.fqn = vec!["shop".into(), name.into()];
    n.original_file_path = path.into();
    n.test_name = test_name.map(str::to_string);
    n.test_type = Some(
        if test_name.is_some() {
            "generic"
        } else {
            "singular"
        }
        .into(),
    );
    n.attached_node = deps.first().map(|s| s.to_string());
    n.config = json!({"enabled": true, "severity": severity});
    n
}

/// seeds -> staging -> marts, with a source, tests, a unit test, an exposure,
/// an analysis, a snapshot, a package model and a macro.
fn graph() -> SelectionGraph {
    let mut raw_orders = node("seed.shop.raw_orders", &[]);
    raw_orders.original_file_path = "seeds/raw_orders.csv".into();
    let mut raw_customers = node("seed.shop.raw_customers", &[]);
    raw_customers.original_file_path = "seeds/raw_customers.csv".into();

    let mut payments = node("source.shop.ext.payments", &[]);
    payments.source_name = Some("ext".into());
    payments.fqn = vec![
        "shop".into(),
        "staging".into(),
        "ext".into(),
        "payments".into(),
    ];
    payments.original_file_path = "models/staging/sources.yml".into();

    let mut unit = node(
        "unit_test.shop.orders.test_orders_math",
        &["model.shop.orders"],
    );
    unit.fqn = vec![
        "shop".into(),
        "marts".into(),
        "orders".into(),
        "test_orders_math".into(),
    ];
    unit.original_file_path = "models/marts/_unit.yml".into();
    unit.test_type = Some("unit".into());
    unit.attached_node = Some("model.shop.orders".into());

    let mut exposure = node("exposure.shop.dashboard", &["model.shop.customers"]);
    exposure.original_file_path = "models/marts/exposures.yml".into();

    let mut analysis = node("analysis.shop.adhoc", &["model.shop.orders"]);
    analysis.fqn = vec!["shop".into(), "analysis".into(), "adhoc".into()];
    analysis.original_file_path = "analyses/adhoc.sql".into();

    let mut snap = node("snapshot.shop.orders_snap", &["model.shop.stg_orders"]);
    snap.fqn = vec!["shop".into(), "orders_snap".into(), "orders_snap".into()];
    snap.original_file_path = "snapshots/orders_snap.sql".into();

    let mut util = node("model.dbt_utils.util_model", &[]);
    util.original_file_path = "models/util_model.sql".into();

    let nodes = vec![
        raw_orders,
        raw_customers,
        payments,
        model(
            "stg_orders",
            "staging",
            &["seed.shop.raw_orders"],
            &["nightly"],
            json!({"materialized": "view", "tags": ["nightly"], "enabled": true}),
        ),
        model(
            "stg_customers",
            "staging",
            &["seed.shop.raw_customers"],
            &[],
            json!({"materialized": "view", "meta": {"owner": "alice"}, "enabled": true}),
        ),
        model(
            "stg_payments",
            "staging",
            &["source.shop.ext.payments"],
            &["nightly", "finance"],
            json!({"materialized": "view", "tags": ["nightly", "finance"], "enabled": true}),
        ),
        model(
            "orders",
            "marts",
            &["model.shop.stg_orders", "model.shop.stg_payments"],
            &["finance"],
            json!({"materialized": "table", "meta": {"owner": "bob"}, "contract": {"enforced": true},
                   "group": "sales", "access": "public", "retries": 3}),
        ),
        model(
            "customers",
            "marts",
            &["model.shop.stg_customers", "model.shop.orders"],
            &[],
            json!({"materialized": "table", "contract": {"enforced": false}}),
        ),
        test(
            "not_null_stg_orders_order_id",
            &["model.shop.stg_orders"],
            Some("not_null"),
            "models/staging/schema.yml",
            "ERROR",
        ),
        test(
            "unique_stg_customers_customer_id",
            &["model.shop.stg_customers"],
            Some("unique"),
            "models/staging/schema.yml",
            "ERROR",
        ),
        test(
            "relationships_orders_customer_id",
            &["model.shop.orders", "model.shop.customers"],
            Some("relationships"),
            "models/marts/schema.yml",
            "warn",
        ),
        test(
            "source_not_null_ext_payments_id",
            &["source.shop.ext.payments"],
            Some("not_null"),
            "models/staging/sources.yml",
            "ERROR",
        ),
        test(
            "assert_positive_total",
            &["model.shop.orders"],
            None,
            "tests/assert_positive_total.sql",
            "ERROR",
        ),
        test(
            "expression_is_true_orders",
            &["model.shop.orders"],
            Some("dbt_utils.expression_is_true"),
            "models/marts/schema.yml",
            "ERROR",
        ),
        unit,
        exposure,
        analysis,
        snap,
        util,
        node("macro.shop.cents_to_dollars", &[]),
    ];
    SelectionGraph::new(nodes, "shop")
}

/// Short names of the selected ids, sorted, for compact assertions.
fn names(sel: &Selection) -> Vec<String> {
    sel.ids
        .iter()
        .map(|id| {
            let parts: Vec<&str> = id.split('.').collect();
            match parts[0] {
                "test" => parts[2].to_string(),
                _ => parts.last().copied().unwrap_or_default().to_string(),
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn run(g: &SelectionGraph, select: &str, exclude: &str, mode: IndirectSelection) -> Vec<String> {
    names(
        &g.select(&words(select), &words(exclude), mode)
            .expect(select),
    )
}

/// Graph-operator checks use `empty` so tests don't ride along.
fn sel(g: &SelectionGraph, select: &str) -> Vec<String> {
    run(g, select, "", IndirectSelection::Empty)
}

fn eager(g: &SelectionGraph, select: &str) -> Vec<String> {
    run(g, select, "", IndirectSelection::Eager)
}

fn err(g: &SelectionGraph, select: &str) -> SelectError {
    g.select(&words(select), &[], IndirectSelection::Eager)
        .expect_err(select)
}

fn v(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[test]
fn spec_grammar() {
    let c = SelectionCriteria::from_single_spec("1+config.meta.owner:bob+2", None).unwrap();
    assert_eq!(c.method, Method::Config);
    assert_eq!(c.method_arguments, vec!["meta", "owner"]);
    assert_eq!(c.value, "bob");
    assert_eq!(
        c.ops,
        GraphOperators {
            parents: true,
            parents_depth: Some(1),
            children: true,
            children_depth: Some(2),
            ..Default::default()
        }
    );
    let c = SelectionCriteria::from_single_spec("@stg_orders", None).unwrap();
    assert!(c.ops.childrens_parents && !c.ops.parents && !c.ops.children);
    assert_eq!(c.method, Method::Fqn);
    assert_eq!(
        SelectionCriteria::from_single_spec("models/staging", None)
            .unwrap()
            .method,
        Method::Path
    );
    assert_eq!(
        SelectionCriteria::from_single_spec("orders.SQL", None)
            .unwrap()
            .method,
        Method::File
    );
    assert_eq!(
        SelectionCriteria::from_single_spec("schema.yml", None)
            .unwrap()
            .method,
        Method::Fqn
    );
    assert!(SelectionCriteria::from_single_spec("@a+", None)
        .unwrap_err()
        .message
        .contains("incompatible"));
    let e = SelectionCriteria::from_single_spec("foo:bar", None).unwrap_err();
    assert_eq!(e.message, "'foo' is not a valid method name");
    assert!(e.hint.unwrap().contains("resource_type"));
}

#[test]
fn glob_matching() {
    assert!(fnmatch("stg_orders", "stg_*"));
    assert!(fnmatch("a.b/c", "*"));
    assert!(fnmatch("abc", "a?c"));
    assert!(fnmatch("abc", "[a-c]bc") && !fnmatch("dbc", "[a-c]bc"));
    assert!(fnmatch("dbc", "[!a-c]bc") && !fnmatch("abc", "[!a-c]bc"));
    assert!(fnmatch("[x", "[x"), "unclosed bracket is literal");
    assert!(fnmatch("]", "[]]"));
    assert!(fnmatch("aXbXc", "a*b*c") && !fnmatch("aXbXd", "a*b*c"));
    assert!(fnmatch("", "*") && !fnmatch("", "?"));
    assert_eq!(file_stem("orders.sql"), "orders");
    assert_eq!(file_stem(".hidden"), ".hidden");
}

#[test]
fn bare_names_and_fqn() {
    let g = graph();
    assert_eq!(sel(&g, "stg_orders"), v(&["stg_orders"]));
    // A folder name selects everything under it (fqn prefix), with or without package.
    assert_eq!(
        sel(&g, "staging"),
        v(&["stg_orders", "stg_customers", "stg_payments"])
    );
    assert_eq!(
        sel(&g, "shop.staging"),
        v(&["stg_orders", "stg_customers", "stg_payments"])
    );
    assert_eq!(
        sel(&g, "fqn:staging.*"),
        v(&["stg_orders", "stg_customers", "stg_payments"])
    );
    assert_eq!(sel(&g, "staging.stg_c*"), v(&["stg_customers"]));
    assert_eq!(
        sel(&g, "*.marts.*"),
        v(&["orders", "customers", "test_orders_math"])
    );
    // fqn never matches sources; it does match exposures and unit tests.
    assert_eq!(sel(&g, "payments"), Vec::<String>::new());
    assert_eq!(sel(&g, "dashboard"), v(&["dashboard"]));
    assert_eq!(sel(&g, "test_orders_math"), v(&["test_orders_math"]));
    assert_eq!(sel(&g, "dbt_utils"), v(&["util_model"]));
    // Everything except sources and the macro.
    assert_eq!(sel(&g, "fqn:*").len(), g.len() - 1);
    assert!(!g.contains("macro.shop.cents_to_dollars"));
}

#[test]
fn graph_operators() {
    let g = graph();
    assert_eq!(
        sel(&g, "+orders"),
        v(&[
            "orders",
            "stg_orders",
            "stg_payments",
            "raw_orders",
            "payments"
        ])
    );
    assert_eq!(
        sel(&g, "1+orders"),
        v(&["orders", "stg_orders", "stg_payments"])
    );
    assert_eq!(sel(&g, "0+orders"), v(&["orders"]));
    // Children include tests and other resource types.
    assert_eq!(
        sel(&g, "customers+"),
        v(&["customers", "relationships_orders_customer_id", "dashboard"])
    );
    assert_eq!(
        sel(&g, "1+stg_orders+1"),
        v(&[
            "stg_orders",
            "raw_orders",
            "orders",
            "orders_snap",
            "not_null_stg_orders_order_id"
        ])
    );
    assert_eq!(
        sel(&g, "orders+1"),
        v(&[
            "orders",
            "customers",
            "adhoc",
            "test_orders_math",
            "relationships_orders_customer_id",
            "assert_positive_total",
            "expression_is_true_orders"
        ])
    );
    // `@`: descendants plus all their ancestors (through tests, too).
    assert_eq!(
        sel(&g, "@stg_customers"),
        v(&[
            "stg_customers",
            "unique_stg_customers_customer_id",
            "customers",
            "relationships_orders_customer_id",
            "dashboard",
            "raw_customers",
            "orders",
            "stg_orders",
            "stg_payments",
            "raw_orders",
            "payments"
        ])
    );
    assert!(err(&g, "@orders+").message.contains("incompatible"));
    assert!(err(&g, "99999999999999999999999+orders")
        .message
        .contains("parent depth"));
}

#[test]
fn methods() {
    let g = graph();
    assert_eq!(sel(&g, "tag:nightly"), v(&["stg_orders", "stg_payments"]));
    assert_eq!(sel(&g, "tag:fin*"), v(&["stg_payments", "orders"]));
    assert_eq!(
        sel(&g, "path:models/staging"),
        v(&[
            "stg_orders",
            "stg_customers",
            "stg_payments",
            "payments",
            "not_null_stg_orders_order_id",
            "unique_stg_customers_customer_id",
            "source_not_null_ext_payments_id"
        ])
    );
    assert_eq!(sel(&g, "models/staging/stg_orders.sql"), v(&["stg_orders"]));
    assert_eq!(
        sel(&g, "path:./models/marts/*.sql/"),
        v(&["orders", "customers"])
    );
    assert_eq!(sel(&g, "path:models/**/orders.sql"), v(&["orders"]));
    assert_eq!(sel(&g, "path:seeds"), v(&["raw_orders", "raw_customers"]));
    assert_eq!(
        sel(&g, "path:model"),
        Vec::<String>::new(),
        "no partial-segment matches"
    );
    assert!(err(&g, "path:/etc").message.contains("non-relative"));
    assert!(err(&g, "path:.").message.contains("Unacceptable pattern"));
    assert_eq!(sel(&g, "file:orders.sql"), v(&["orders"]));
    assert_eq!(sel(&g, "file:orders"), v(&["orders"]));
    assert_eq!(sel(&g, "orders.sql"), v(&["orders"]));
    assert_eq!(sel(&g, "raw_*.csv"), v(&["raw_orders", "raw_customers"]));
    assert_eq!(sel(&g, "source:ext"), v(&["payments"]));
    assert_eq!(sel(&g, "source:ext.payments"), v(&["payments"]));
    assert_eq!(sel(&g, "source:shop.e*.*"), v(&["payments"]));
    assert_eq!(sel(&g, "source:other.payments"), Vec::<String>::new());
    assert!(err(&g, "source:a.b.c.d")
        .message
        .contains("Invalid source selector"));
    assert_eq!(
        sel(&g, "resource_type:seed"),
        v(&["raw_orders", "raw_customers"])
    );
    assert_eq!(sel(&g, "resource_type:source"), v(&["payments"]));
    assert_eq!(sel(&g, "resource_type:exposure"), v(&["dashboard"]));
    assert_eq!(sel(&g, "resource_type:macro"), Vec::<String>::new());
    assert!(err(&g, "resource_type:bogus")
        .message
        .contains("Invalid resource_type"));
    assert_eq!(sel(&g, "package:dbt_utils"), v(&["util_model"]));
    assert_eq!(sel(&g, "package:dbt_*"), v(&["util_model"]));
    assert_eq!(sel(&g, "package:this").len(), g.len() - 1);
    assert_eq!(sel(&g, "exposure:dashboard"), v(&["dashboard"]));
    assert_eq!(sel(&g, "exposure:shop.dash*"), v(&["dashboard"]));
    assert_eq!(sel(&g, "unit_test:test_orders_*"), v(&["test_orders_math"]));
    assert_eq!(sel(&g, "group:sales"), v(&["orders"]));
    assert_eq!(sel(&g, "access:public"), v(&["orders"]));
    assert_eq!(
        sel(&g, "access:protected"),
        v(&[
            "stg_orders",
            "stg_customers",
            "stg_payments",
            "customers",
            "util_model"
        ])
    );
    assert_eq!(sel(&g, "metric:*"), Vec::<String>::new());
    let e = err(&g, "version:latest");
    assert_eq!(e.message, "unsupported selector method version");
    assert!(err(&g, "state:modified")
        .message
        .contains("unsupported selector method state"));
    assert!(err(&g, "bogus:x")
        .message
        .contains("'bogus' is not a valid method name"));
}

#[test]
fn result_and_source_status_compare_with_state() {
    let g = graph();
    // Without --state, the methods say what they need.
    let e = err(&g, "result:fail");
    assert!(e.message.contains("no --state"), "{}", e.message);
    assert!(err(&g, "source_status:fresher")
        .message
        .contains("no --state"));

    let at = |s: &str| parse_loaded_at(s);
    let state = PreviousState {
        dir: "prev".into(),
        results: Some(
            [
                ("model.shop.stg_orders", "error"),
                ("model.shop.orders", "skipped"),
                ("seed.shop.raw_orders", "success"),
            ]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ),
        sources: Some(
            [(
                "source.shop.ext.payments".to_string(),
                at("2024-01-01 00:00:00"),
            )]
            .into_iter()
            .collect(),
        ),
        sources_current: Some(
            [(
                "source.shop.ext.payments".to_string(),
                at("2024-01-02T00:00:00+00:00"),
            )]
            .into_iter()
            .collect(),
        ),
    };
    let g = g.with_state(state.clone());
    assert_eq!(sel(&g, "result:error"), v(&["stg_orders"]));
    assert_eq!(sel(&g, "result:skipped"), v(&["orders"]));
    assert_eq!(sel(&g, "result:fail"), Vec::<String>::new());
    // Graph operators apply as to any method.
    let down = sel(&g, "result:error+");
    assert!(down.contains(&"orders".to_string()), "{down:?}");
    assert!(!down.contains(&"stg_customers".to_string()), "{down:?}");
    assert!(err(&g, "result:bogus").message.contains("Invalid result"));

    assert_eq!(sel(&g, "source_status:fresher"), v(&["payments"]));
    let with_children = sel(&g, "source_status:fresher+");
    assert!(with_children.len() > 1, "{with_children:?}");
    // Not fresher when max_loaded_at did not move, or when the check errored.
    let mut same = state.clone();
    same.sources_current = same.sources.clone();
    let g2 = graph().with_state(same);
    assert_eq!(sel(&g2, "source_status:fresher"), Vec::<String>::new());
    let mut errored = state;
    errored.sources_current = Some(
        [("source.shop.ext.payments".to_string(), None)]
            .into_iter()
            .collect(),
    );
    let g3 = graph().with_state(errored);
    assert_eq!(sel(&g3, "source_status:fresher"), Vec::<String>::new());
}

#[test]
fn config_method() {
    let g = graph();
    assert_eq!(
        sel(&g, "config.materialized:table"),
        v(&["orders", "customers"])
    );
    assert_eq!(sel(&g, "config.meta.owner:alice"), v(&["stg_customers"]));
    assert_eq!(
        sel(&g, "config.tags:nightly"),
        v(&["stg_orders", "stg_payments"])
    );
    assert_eq!(sel(&g, "config.contract.enforced:true"), v(&["orders"]));
    assert_eq!(sel(&g, "config.contract.enforced:False"), v(&["customers"]));
    assert_eq!(sel(&g, "config.retries:3"), v(&["orders"]));
    // severity compares case-insensitively; other keys do not.
    assert_eq!(
        sel(&g, "config.severity:warn"),
        v(&["relationships_orders_customer_id"])
    );
    assert_eq!(
        sel(&g, "config.severity:WARN"),
        v(&["relationships_orders_customer_id"])
    );
    assert_eq!(sel(&g, "config.materialized:TABLE"), Vec::<String>::new());
    // config never looks at exposures or unit tests; missing keys never match
    // (orders and customers carry no `enabled` key in this fixture).
    assert_eq!(sel(&g, "config.enabled:true").len(), 15);
    assert_eq!(sel(&g, "config.nope.deeper:x"), Vec::<String>::new());
    assert_eq!(sel(&g, "config:table"), Vec::<String>::new());
}

#[test]
fn test_methods() {
    let g = graph();
    let generic = v(&[
        "not_null_stg_orders_order_id",
        "unique_stg_customers_customer_id",
        "relationships_orders_customer_id",
        "source_not_null_ext_payments_id",
        "expression_is_true_orders",
    ]);
    assert_eq!(sel(&g, "test_type:generic"), generic);
    assert_eq!(sel(&g, "test_type:schema"), generic);
    assert_eq!(sel(&g, "test_type:singular"), v(&["assert_positive_total"]));
    assert_eq!(sel(&g, "test_type:unit"), v(&["test_orders_math"]));
    assert_eq!(sel(&g, "test_type:data").len(), generic.len() + 1);
    assert!(err(&g, "test_type:bogus")
        .message
        .contains("Invalid test type selector"));
    assert_eq!(
        sel(&g, "test_name:not_null"),
        v(&[
            "not_null_stg_orders_order_id",
            "source_not_null_ext_payments_id"
        ])
    );
    assert_eq!(
        sel(&g, "test_name:expression_is_true"),
        v(&["expression_is_true_orders"])
    );
    assert_eq!(
        sel(&g, "test_name:dbt_utils.expression_is_true"),
        v(&["expression_is_true_orders"])
    );
    assert_eq!(
        sel(&g, "test_name:test_orders_math"),
        v(&["test_orders_math"])
    );
    assert_eq!(sel(&g, "resource_type:test").len(), 6);
}

#[test]
fn unions_intersections_excludes() {
    let g = graph();
    assert_eq!(
        sel(&g, "stg_orders stg_customers"),
        v(&["stg_orders", "stg_customers"])
    );
    // One shell word holding a space is split like dbt does.
    assert_eq!(
        names(
            &g.select(
                &["stg_orders stg_customers".into()],
                &[],
                IndirectSelection::Empty
            )
            .unwrap()
        ),
        v(&["stg_orders", "stg_customers"])
    );
    assert_eq!(
        sel(&g, "tag:nightly,path:models/staging"),
        v(&["stg_orders", "stg_payments"])
    );
    assert_eq!(sel(&g, "+orders,+customers"), sel(&g, "+orders"));
    assert_eq!(
        sel(&g, "stg_orders+,stg_payments+"),
        v(&[
            "orders",
            "customers",
            "adhoc",
            "dashboard",
            "test_orders_math",
            "relationships_orders_customer_id",
            "assert_positive_total",
            "expression_is_true_orders"
        ])
    );
    // Each intersection term brings its own tests before intersecting.
    assert_eq!(
        eager(&g, "tag:nightly,path:models/staging"),
        v(&["stg_orders", "stg_payments", "not_null_stg_orders_order_id"])
    );
    assert_eq!(
        run(&g, "+orders", "stg_payments", IndirectSelection::Empty),
        v(&["orders", "stg_orders", "raw_orders", "payments"])
    );
    // Excluding a model excludes its tests, even ones that touch other models.
    assert_eq!(
        run(
            &g,
            "orders customers",
            "customers",
            IndirectSelection::Eager
        ),
        v(&[
            "orders",
            "test_orders_math",
            "assert_positive_total",
            "expression_is_true_orders"
        ])
    );
    assert_eq!(
        run(
            &g,
            "path:models/staging",
            "source:ext",
            IndirectSelection::Eager
        ),
        v(&[
            "stg_orders",
            "stg_customers",
            "stg_payments",
            "not_null_stg_orders_order_id",
            "unique_stg_customers_customer_id"
        ])
    );
}

#[test]
fn indirect_selection_modes() {
    let g = graph();
    let orders_tests = [
        "test_orders_math",
        "assert_positive_total",
        "expression_is_true_orders",
    ];
    let mut with_rel = orders_tests.to_vec();
    with_rel.extend(["orders", "relationships_orders_customer_id"]);
    assert_eq!(
        run(&g, "orders", "", IndirectSelection::Eager),
        v(&with_rel)
    );
    let mut cautious = orders_tests.to_vec();
    cautious.push("orders");
    assert_eq!(
        run(&g, "orders", "", IndirectSelection::Cautious),
        v(&cautious)
    );
    assert_eq!(
        run(&g, "orders", "", IndirectSelection::Buildable),
        v(&cautious)
    );
    assert_eq!(
        run(&g, "orders", "", IndirectSelection::Empty),
        v(&["orders"])
    );
    // Cautious: a test pending in one word is picked up when another word selects its other parent.
    let both = run(&g, "orders customers", "", IndirectSelection::Cautious);
    assert!(both.contains(&"relationships_orders_customer_id".to_string()));
    // Buildable: parents upstream of the selection count.
    assert_eq!(
        run(&g, "customers", "", IndirectSelection::Buildable),
        v(&["customers", "relationships_orders_customer_id"])
    );
    assert_eq!(
        run(&g, "customers", "", IndirectSelection::Cautious),
        v(&["customers"])
    );
    // Source tests follow their source.
    assert_eq!(
        run(&g, "source:ext", "", IndirectSelection::Cautious),
        v(&["payments", "source_not_null_ext_payments_id"])
    );
    // Directly selected tests stay whatever the mode.
    assert_eq!(
        run(&g, "test_type:singular", "", IndirectSelection::Empty),
        v(&["assert_positive_total"])
    );
}

#[test]
fn defaults_and_warnings() {
    let g = graph();
    let all = g.select(&[], &[], IndirectSelection::Eager).unwrap();
    assert_eq!(all.ids.len(), g.len());
    assert!(all.warnings.is_empty());
    let some = g
        .select(&[], &words("tag:nightly"), IndirectSelection::Eager)
        .unwrap();
    assert_eq!(
        some.ids.len(),
        g.len() - 3,
        "two models and the test on stg_orders"
    );

    let none = g
        .select(
            &words("nope stg_orders"),
            &words("zilch"),
            IndirectSelection::Eager,
        )
        .unwrap();
    assert_eq!(
        names(&none),
        v(&["stg_orders", "not_null_stg_orders_order_id"])
    );
    assert_eq!(
        none.warnings,
        vec![
            "The selection criterion 'nope' does not match any enabled nodes".to_string(),
            "The selection criterion 'zilch' does not match any enabled nodes".to_string(),
        ]
    );
    let empty_intersection = g
        .select(
            &words("tag:nightly,tag:nope"),
            &[],
            IndirectSelection::Eager,
        )
        .unwrap();
    assert!(empty_intersection.ids.is_empty());
    assert_eq!(empty_intersection.warnings.len(), 1);
    assert!(empty_intersection.warnings[0].contains("'tag:nightly,tag:nope'"));
}

const SELECTORS: &str = r#"
selectors:
  - name: nightly_cli
    description: plain CLI string
    definition: "+tag:nightly"
  - name: key_value
    definition:
      tag: finance
  - name: full
    definition:
      method: fqn
      value: stg_orders
      children: true
      children_depth: 1
      parents: true
      indirect_selection: empty
  - name: staging_no_payments
    default: true
    definition:
      union:
        - method: path
          value: models/staging
          indirect_selection: empty
        - exclude:
            - stg_payments
            - source:ext
  - name: common
    definition:
      intersection:
        - "+orders"
        - "+customers"
        - "resource_type:model"
  - name: reuse
    definition:
      union:
        - method: selector
          value: key_value
        - "resource_type:seed"
  - name: dict_exclude
    definition:
      method: tag
      value: nightly
      exclude:
        - stg_orders
  - name: at_sign
    definition:
      method: fqn
      value: stg_customers
      childrens_parents: true
      indirect_selection: empty
  - name: string_is_one_term
    definition: "tag:nightly,path:models/staging"
"#;

#[test]
fn selectors_yml() {
    let g = graph();
    let sels = parse_selectors(SELECTORS).unwrap();
    // File order is kept.
    assert_eq!(
        sels.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "nightly_cli",
            "key_value",
            "full",
            "staging_no_payments",
            "common",
            "reuse",
            "dict_exclude",
            "at_sign",
            "string_is_one_term"
        ]
    );
    assert_eq!(default_selector(&sels).unwrap().name, "staging_no_payments");
    assert_eq!(sels["nightly_cli"].description, "plain CLI string");
    let pick = |name: &str, mode| names(&g.select_with_selector(&sels[name], mode).unwrap());

    assert_eq!(
        pick("nightly_cli", IndirectSelection::Empty),
        v(&["stg_orders", "stg_payments", "raw_orders", "payments"])
    );
    assert_eq!(
        pick("key_value", IndirectSelection::Empty),
        v(&["stg_payments", "orders"])
    );
    // `indirect_selection:` in YAML wins over the flag.
    assert_eq!(
        pick("full", IndirectSelection::Eager),
        v(&[
            "stg_orders",
            "raw_orders",
            "orders",
            "orders_snap",
            "not_null_stg_orders_order_id"
        ])
    );
    assert_eq!(
        pick("staging_no_payments", IndirectSelection::Eager),
        v(&[
            "stg_orders",
            "stg_customers",
            "not_null_stg_orders_order_id",
            "unique_stg_customers_customer_id"
        ])
    );
    assert_eq!(
        pick("common", IndirectSelection::Empty),
        v(&["orders", "stg_orders", "stg_payments"])
    );
    // Eager: every term brings the tests of what it matched, so tests on the common
    // models survive the intersection (as in dbt).
    assert_eq!(
        pick("common", IndirectSelection::Eager),
        v(&[
            "orders",
            "stg_orders",
            "stg_payments",
            "not_null_stg_orders_order_id",
            "relationships_orders_customer_id",
            "assert_positive_total",
            "expression_is_true_orders",
            "test_orders_math"
        ])
    );
    assert_eq!(
        pick("reuse", IndirectSelection::Empty),
        v(&["stg_payments", "orders", "raw_orders", "raw_customers"])
    );
    // Without a YAML override the flag applies.
    assert_eq!(
        pick("reuse", IndirectSelection::Cautious),
        v(&[
            "stg_payments",
            "orders",
            "raw_orders",
            "raw_customers",
            "test_orders_math",
            "assert_positive_total",
            "expression_is_true_orders"
        ])
    );
    assert_eq!(
        pick("dict_exclude", IndirectSelection::Eager),
        v(&["stg_payments"])
    );
    assert_eq!(
        pick("at_sign", IndirectSelection::Eager),
        sel(&g, "@stg_customers")
    );
    // dbt parses a string definition as ONE term: commas and spaces are not set operators.
    assert_eq!(
        pick("string_is_one_term", IndirectSelection::Eager),
        Vec::<String>::new()
    );
    // YAML selectors never emit "does not match" warnings.
    assert!(g
        .select_with_selector(&sels["string_is_one_term"], IndirectSelection::Eager)
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn selectors_yml_errors() {
    let bad = |yaml: &str| parse_selectors(yaml).unwrap_err().message;
    assert!(bad("selectors:\n  - {name: a, default: true, definition: x}\n  - {name: b, default: true, definition: y}\n")
        .contains("multiple selectors with `default: true`"));
    assert!(
        bad("selectors:\n  - name: a\n    definition:\n      union: [a]\n      tag: x\n")
            .contains("Only a single 'union' or 'intersection' key")
    );
    assert!(bad("selectors:\n  - name: a\n    definition: [a, b]\n").contains("No lists"));
    assert!(bad("selectors:\n  - name: a\n    definition: {method: selector, value: later}\n  - {name: later, definition: x}\n")
        .contains("Existing selector definition for later not found"));
    assert!(bad("selectors:\n  - name: a\n    definition:\n      union:\n        - exclude: [a]\n        - exclude: [b]\n")
        .contains("multiple exclude"));
    assert!(
        bad("selectors:\n  - name: a\n    definition: {method: tag}\n")
            .contains("'method' is not a valid method name")
    );
    assert!(
        bad("selectors:\n  - name: a\n    definition: {method: tag, foo: 1, bar: 2}\n")
            .contains("Expected either 1 key or else \"method\" and \"value\" keys")
    );
    assert!(bad("selectors:\n  - name: a\n    definition: {bogus: x}\n")
        .contains("'bogus' is not a valid method name"));
    assert!(
        bad("selectors:\n  - name: a\n    definition: {union: a}\n").contains("Expected a list")
    );
    assert!(
        bad("selectors:\n  - name: a\n    definition: {union: [1]}\n")
            .contains("expected dict or str")
    );
    assert!(bad("selectors:\n  - name: a\n    definition: {method: tag, value: x, indirect_selection: lazy}\n")
        .contains("not a valid IndirectSelection"));
    assert!(bad("selectors:\n  - definition: x\n").contains("name"));
    assert!(bad("selectors: 3\n").contains("selectors"));
    assert!(bad("selectors: [\n").contains("Could not parse"));
    // Unsupported methods still parse (they only fail when used).
    assert!(parse_selectors("selectors:\n  - {name: a, definition: 'state:modified'}\n").is_ok());
    assert!(parse_selectors("").unwrap().is_empty());
    assert!(default_selector(&parse_selectors("selectors: []").unwrap()).is_none());
}

#[test]
fn selectors_yml_scalars_and_anchors() {
    let g = graph();
    let sels = parse_selectors(
        r#"
selectors:
  - name: base
    definition: &base
      method: config.contract.enforced
      value: true
  - name: merged
    default: "False"
    definition:
      <<: *base
      parents: true
      parents_depth: 1
      indirect_selection: empty
  - name: zero_depth_is_unlimited
    definition: {method: fqn, value: orders, parents: true, parents_depth: 0, indirect_selection: empty}
"#,
    )
    .unwrap();
    assert!(default_selector(&sels).is_none());
    assert_eq!(
        names(
            &g.select_with_selector(&sels["base"], IndirectSelection::Empty)
                .unwrap()
        ),
        v(&["orders"])
    );
    assert_eq!(
        names(
            &g.select_with_selector(&sels["merged"], IndirectSelection::Eager)
                .unwrap()
        ),
        v(&["orders", "stg_orders", "stg_payments"])
    );
    // dbt's `_match_to_int` turns 0 into "no limit".
    assert_eq!(
        names(
            &g.select_with_selector(&sels["zero_depth_is_unlimited"], IndirectSelection::Eager)
                .unwrap()
        ),
        sel(&g, "+orders")
    );
}
