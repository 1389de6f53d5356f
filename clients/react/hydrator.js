// The DOM side of the hydration markup, independent of where React comes
// from (client.js binds it to `react` and `react-dom/client`):
//
//   <div data-ssr-component="Name" data-ssr-id="ID">SERVER HTML</div>
//   <script type="application/json" data-ssr-props-for="ID">PROPS</script>
//
// A placeholder with `data-ssr-fallback` has no server HTML (the service
// failed): it is rendered with createRoot instead of hydrated.

const COMPONENT = "data-ssr-component";
const ID = "data-ssr-id";
const FALLBACK = "data-ssr-fallback";
const PROPS_FOR = "data-ssr-props-for";

/**
 * Builds hydrate/hydrateAll/readProps on top of React's `createElement`,
 * `hydrateRoot` and `createRoot`.
 */
export function createHydrator({ createElement, hydrateRoot, createRoot }) {
  const mounted = new WeakSet();

  function findPropsScript(element) {
    const id = element.getAttribute(ID);
    const next = element.nextElementSibling;
    if (next && next.tagName === "SCRIPT" && next.getAttribute(PROPS_FOR) === id) return next;
    for (const script of element.ownerDocument.querySelectorAll(`script[${PROPS_FOR}]`)) {
      if (script.getAttribute(PROPS_FOR) === id) return script;
    }
    return null;
  }

  function readProps(element) {
    const script = findPropsScript(element);
    if (!script) {
      throw new Error(`ssr: no props script for placeholder "${element.getAttribute(ID)}"`);
    }
    return JSON.parse(script.textContent);
  }

  // Placeholders under `scope` (the document by default) not mounted yet,
  // skipping any nested inside another placeholder (React owns those).
  function placeholders(scope) {
    const found = [];
    for (const element of scope.querySelectorAll(`[${COMPONENT}]`)) {
      if (mounted.has(element)) continue;
      if (element.parentElement && element.parentElement.closest(`[${COMPONENT}]`)) continue;
      found.push(element);
    }
    return found;
  }

  function splitOptions(options) {
    const { scope, onError, ...rootOptions } = options ?? {};
    const report =
      typeof onError === "function"
        ? onError
        : (error) => {
            console.error(error);
          };
    return { scope: scope ?? globalThis.document, report, rootOptions };
  }

  function mount(element, Component, rootOptions) {
    const props = readProps(element);
    const node = createElement(Component, props);
    const fallback = element.hasAttribute(FALLBACK);
    let root;
    if (fallback) {
      root = createRoot(element, rootOptions);
      root.render(node);
    } else {
      root = hydrateRoot(element, node, rootOptions);
    }
    mounted.add(element);
    return {
      id: element.getAttribute(ID),
      component: element.getAttribute(COMPONENT),
      element,
      root,
      mode: fallback ? "render" : "hydrate",
    };
  }

  function run(resolve, options) {
    const { scope, report, rootOptions } = splitOptions(options);
    const roots = [];
    for (const element of placeholders(scope)) {
      const name = element.getAttribute(COMPONENT);
      const Component = resolve(name);
      if (Component === undefined) continue;
      try {
        if (Component === null) throw new Error(`ssr: no component registered as "${name}"`);
        roots.push(mount(element, Component, rootOptions));
      } catch (error) {
        report(error, { component: name, id: element.getAttribute(ID), element });
      }
    }
    return roots;
  }

  /**
   * Hydrates every placeholder of component `name` with `Component`.
   * Options: `scope` (element or document to search), `onError(error, info)`
   * (default console.error); anything else (identifierPrefix,
   * onRecoverableError, ...) goes to hydrateRoot/createRoot.
   * Returns [{id, component, element, root, mode: "hydrate" | "render"}].
   */
  function hydrate(name, Component, options) {
    return run((found) => (found === name ? Component : undefined), options);
  }

  /**
   * Hydrates every placeholder, looking its component up in `registry`
   * (`{Name: Component}` or a Map). Unknown names are reported to onError.
   */
  function hydrateAll(registry, options) {
    const lookup =
      registry instanceof Map
        ? (name) => registry.get(name)
        : (name) => (Object.prototype.hasOwnProperty.call(registry, name) ? registry[name] : undefined);
    return run((name) => lookup(name) ?? null, options);
  }

  return { hydrate, hydrateAll, readProps };
}
