use super::test_args::relation_kwarg_parts as parts;

#[test]
fn relation_kwargs_are_read_without_jinja_only_in_their_plain_forms() {
    assert_eq!(
        parts("{{ get_where_subquery(ref('orders')) }}"),
        Some((true, true, "orders", None))
    );
    assert_eq!(
        parts("  {{get_where_subquery( source( 'raw' , 'orders' ) )}} "),
        Some((true, false, "raw", Some("orders")))
    );
    assert_eq!(
        parts("ref('pkg', 'm')"),
        Some((false, true, "pkg", Some("m")))
    );
    // Anything else goes through Jinja.
    for s in [
        "ref('a') }}",
        "{{ get_where_subquery(ref('a')) ",
        "{{ ref('a') }}",
        "ref(\"a\")",
        "ref('')",
        "ref('a\"b')",
        "ref('a') ~ 'x'",
        "source('a')x",
        "refs('a')",
        "ref('a', version=2)",
    ] {
        assert_eq!(parts(s).map(|p| p.2), None, "{s}");
    }
    // `source` with one name is read here and refused by the caller, as before.
    assert_eq!(parts("source('a')"), Some((false, false, "a", None)));
}
