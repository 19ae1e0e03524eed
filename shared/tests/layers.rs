//! The module graph of `shared`, read from its source: no import circle between modules, and
//! no module imports from a layer above its own (the domain from nothing else of ours, and from
//! no HTTP, AWS or runtime crate). Paths inside macro invocations are not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The layers, lowest first: a module may use its own layer and the ones below it. Within a
/// layer, modules of different groups may not use each other (the HTTP edge and the jobs are
/// both entry points; neither calls the other). A module of ours in no layer fails the test.
const LAYERS: &[(&str, &[&[&str]])] = &[
    ("domain", &[&["domain"]]),
    (
        "storage and clients",
        &[&[
            "cursor",
            "store",
            "payments",
            "secrets",
            "config",
            "aws_clients",
            "telemetry",
            "monitoring",
            "auth",
            "messages",
            "ratelimit",
        ]],
    ),
    ("dependencies", &[&["deps"]]),
    ("use cases", &[&["usecases"]]),
    ("entry points", &[&["error", "http", "api"], &["jobs"]]),
    ("Lambda runtime", &[&["lambda"]]),
];

/// What the domain must not use: it does no I/O and knows nothing of HTTP, AWS or the runtime.
const NOT_IN_DOMAIN: &[&str] =
    &["http", "lambda_http", "lambda_runtime", "aws_lambda_events", "aws_config", "reqwest", "tokio", "jsonwebtoken"];
const NOT_IN_DOMAIN_PREFIXES: &[&str] =
    &["aws_sdk_", "aws_smithy_", "std::fs", "std::io", "std::env", "std::process", "std::net::Tcp", "std::net::Udp"];

/// A module of the crate, as the path from the root (`jobs::expiry`); the root is empty.
type Module = Vec<String>;

struct SourceFile {
    module: Module,
    syntax: syn::File,
}

fn source_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for path in std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()) {
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                files.push(SourceFile { module: module_of(&root, &path), syntax });
            }
        }
    }
    files
}

fn module_of(root: &Path, path: &Path) -> Module {
    let relative: PathBuf = path.strip_prefix(root).unwrap().with_extension("");
    let mut module: Module = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
        module.pop();
    }
    module
}

/// Every path a file names: `use` trees and paths in code, made absolute where they start with
/// `crate`, `super` or `self` (others are kept as written: external crates, locals, std).
struct Paths {
    /// The module the code being visited is in (a file's, then its inline modules').
    scope: Module,
    found: BTreeSet<Vec<String>>,
}

impl Paths {
    fn add(&mut self, segments: &[String]) {
        let mut absolute = Vec::new();
        let mut rest = segments;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                absolute.push("crate".to_owned());
                rest = &rest[1..];
            }
            Some("self" | "super") => {
                absolute.push("crate".to_owned());
                let mut scope = self.scope.clone();
                while let Some(first) = rest.first() {
                    match first.as_str() {
                        "self" => {}
                        "super" => {
                            scope.pop();
                        }
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                absolute.extend(scope);
            }
            _ => {}
        }
        absolute.extend(rest.iter().cloned());
        self.found.insert(absolute);
    }

    fn add_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.add_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let mut full = prefix.clone();
                if name.ident != "self" {
                    full.push(name.ident.to_string());
                }
                self.add(&full);
            }
            syn::UseTree::Rename(rename) => {
                let mut full = prefix.clone();
                full.push(rename.ident.to_string());
                self.add(&full);
            }
            syn::UseTree::Glob(_) => self.add(prefix),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.add_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'a> Visit<'a> for Paths {
    fn visit_item_use(&mut self, item: &'a syn::ItemUse) {
        self.add_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'a syn::Path) {
        self.add(&path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>());
        syn::visit::visit_path(self, path);
    }

    /// `pub(crate)` and `pub(in path)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'a syn::Visibility) {}

    fn visit_item_mod(&mut self, item: &'a syn::ItemMod) {
        self.scope.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.scope.pop();
    }
}

fn paths_in(file: &SourceFile) -> BTreeSet<Vec<String>> {
    let mut paths = Paths { scope: file.module.clone(), found: BTreeSet::new() };
    paths.visit_file(&file.syntax);
    paths.found
}

/// The longest module of `modules` that `path` (absolute, after `crate`) names or reaches into.
fn target_module<'m>(modules: &'m BTreeSet<Module>, path: &[String]) -> Option<&'m Module> {
    (0..=path.len()).rev().find_map(|len| modules.get(&path[..len]))
}

fn is_ancestor(a: &Module, b: &Module) -> bool {
    a.len() < b.len() && b.starts_with(a)
}

/// The module's layer and group (by its top-level module).
fn place_of(module: &Module) -> Option<(usize, usize)> {
    let top = module.first()?;
    LAYERS.iter().enumerate().find_map(|(layer, (_, groups))| {
        groups.iter().position(|members| members.contains(&top.as_str())).map(|group| (layer, group))
    })
}

/// Module → the modules it uses, leaving out uses between a module and its own ancestors or
/// descendants (a parent serving its children's handlers, a child using its parent's types).
fn module_graph(files: &[SourceFile]) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = files.iter().map(|f| f.module.clone()).collect();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in files {
        let uses = graph.entry(file.module.clone()).or_default();
        for path in paths_in(file) {
            let Some(("crate", rest)) = path.split_first().map(|(head, rest)| (head.as_str(), rest)) else { continue };
            if rest.is_empty() && !file.module.is_empty() {
                // `use crate::*` (or `crate as root`): everything, which the layer test refuses.
                uses.insert(Vec::new());
            } else if let Some(target) = target_module(&modules, rest)
                && target != &file.module
                && !is_ancestor(target, &file.module)
                && !is_ancestor(&file.module, target)
            {
                uses.insert(target.clone());
            }
        }
    }
    graph
}

fn name(module: &Module) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.join("::") }
}

/// Strongly connected components of more than one module (Tarjan's algorithm).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        on_stack: BTreeSet<&'g Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(state: &mut State<'g>, node: &'g Module) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        for target in state.graph.get(node).into_iter().flatten() {
            let Some((target, _)) = state.graph.get_key_value(target) else { continue };
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(name(member));
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn no_module_imports_in_a_circle() {
    let graph = module_graph(&source_files());
    assert!(graph.len() > 20, "the source was not found: {} modules", graph.len());
    assert_eq!(circles(&graph), Vec::<Vec<String>>::new(), "modules that import each other, directly or not");
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let graph = module_graph(&source_files());
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        if module.is_empty() {
            continue;
        }
        let Some((layer, group)) = place_of(module) else {
            wrong.push(format!("{} is in no layer of LAYERS", name(module)));
            continue;
        };
        for target in uses {
            if target.is_empty() {
                wrong.push(format!("{} uses the crate root wholesale", name(module)));
                continue;
            }
            let Some((target_layer, target_group)) = place_of(target) else { continue };
            if target_layer > layer || (target_layer == layer && target_group != group) {
                wrong.push(format!(
                    "{} ({}) uses {} ({})",
                    name(module),
                    LAYERS[layer].0,
                    name(target),
                    LAYERS[target_layer].0
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_domain_uses_nothing_of_http_aws_or_the_runtime() {
    let mut wrong = Vec::new();
    for file in source_files().iter().filter(|f| f.module.first().is_some_and(|m| m == "domain")) {
        for path in paths_in(file) {
            let Some(first) = path.first() else { continue };
            // `crate::*` or `crate as root` would reach everything: it counts as outside.
            let outside_domain = first == "crate" && path.get(1).is_none_or(|m| m != "domain");
            let joined = path.join("::");
            let forbidden_crate = NOT_IN_DOMAIN.contains(&first.as_str())
                || NOT_IN_DOMAIN_PREFIXES.iter().any(|prefix| joined.starts_with(prefix));
            if outside_domain || forbidden_crate {
                wrong.push(format!("{} uses {joined}", name(&file.module)));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The check itself: a made-up graph with a circle of three is found, and one without is not.
#[test]
fn a_circle_through_three_modules_is_found() {
    let module = |name: &str| -> Module { name.split("::").map(str::to_owned).collect() };
    let graph: BTreeMap<Module, BTreeSet<Module>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a", "d"]), ("d", vec![])]
            .into_iter()
            .map(|(from, to)| (module(from), to.into_iter().map(module).collect()))
            .collect();
    assert_eq!(circles(&graph), [["a", "b", "c"]]);
    let mut without = graph;
    without.get_mut(&module("c")).unwrap().remove(&module("a"));
    assert!(circles(&without).is_empty());
}
