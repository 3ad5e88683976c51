// Starts GraphiQL against this server's GraphQL API. A file of its own, not
// an inline script, so the page's Content-Security-Policy allows scripts
// from 'self' only.
(function () {
  'use strict';

  // The page is served at …/graphql and the API answers POST on the same
  // path, whatever prefix a proxy puts in front.
  var endpoint = window.location.pathname;

  var defaultHeaders = '{"Authorization": "Bearer "}';

  var defaultQuery = [
    '# Portcullis GraphQL API',
    '#',
    '# Paste an access token of this server, or a',
    '# personal access token (pat_…), after "Bearer "',
    '# in the Headers tab below.',
    '#',
    '# The documentation explorer needs the schema, and',
    '# introspection needs authentication: the schema',
    '# loads once the token is there. To load it again:',
    '# the re-fetch button (bottom left), Shift+Ctrl+R.',
    '',
    '{',
    '  __typename',
    '}',
    ''
  ].join('\n');

  function sameOriginFetch(url, init) {
    return window.fetch(url, Object.assign({}, init, { credentials: 'same-origin' }));
  }

  function newFetcher() {
    return GraphiQL.createFetcher({ url: endpoint, fetch: sameOriginFetch });
  }

  // The token of an `Authorization: Bearer …` header in the headers editor's
  // text, or null.
  function bearerToken(text) {
    var headers;
    try {
      headers = JSON.parse(text);
    } catch (e) {
      return null;
    }
    if (headers === null || typeof headers !== 'object') {
      return null;
    }
    for (var name in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, name) &&
          name.toLowerCase() === 'authorization' &&
          typeof headers[name] === 'string') {
        var match = /^\s*Bearer\s+(\S+)\s*$/i.exec(headers[name]);
        return match ? match[1] : null;
      }
    }
    return null;
  }

  var fetcher = newFetcher();
  // null: no introspection while there is no token (it would be refused).
  var schema = null;
  var introspectedWith = null;
  var timer = null;

  // GraphiQL introspects when it mounts and when its fetcher changes, not when
  // the headers change: give it a new fetcher once a (new) token is there.
  function onEditHeaders(text) {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      var token = bearerToken(text);
      if (token === null || token === introspectedWith) {
        return;
      }
      introspectedWith = token;
      fetcher = newFetcher();
      schema = undefined;
      render();
    }, 400);
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));

  function render() {
    root.render(React.createElement(GraphiQL, {
      fetcher: fetcher,
      schema: schema,
      defaultQuery: defaultQuery,
      defaultHeaders: defaultHeaders,
      defaultEditorToolsVisibility: 'headers',
      // Tokens are not to be kept in localStorage.
      shouldPersistHeaders: false,
      // Queries, variables (which may hold a password for createUser) and
      // history last as long as the tab, not on the disk for good.
      storage: window.sessionStorage,
      onEditHeaders: onEditHeaders
    }));
  }

  render();
})();
