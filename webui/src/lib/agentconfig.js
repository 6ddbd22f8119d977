// SPDX-License-Identifier: MIT
// The agent config a newly added node needs (agent/config.example.yaml): its identity and
// key, the RPC listener the controller dials (the port of the address given) and the
// controller's three addresses. The UI does not know where the controller listens (the
// gateway reports no addresses), so those are CONTROLLER_HOST placeholders with the
// default ports, marked for the operator to replace.

// node: { id, key, address }; returns the YAML text, ready to paste into the agent's config.
export function agentSnippet(node) {
  const m = /^((?:tls\+)?tcp[46]?):\/\/(.*):(\d+)$/.exec(String(node.address || ''))
  const listen = m ? `${m[1]}://0.0.0.0:${m[3]}` : 'tcp://0.0.0.0:7600'
  const scheme = m && m[1].startsWith('tls') ? 'tls+tcp' : 'tcp'
  return [
    'node:',
    `  id: ${node.id}`,
    `  key: ${node.key}`,
    'rpc:',
    `  listen: ${listen}`,
    '# CONTROLLER_HOST: replace with the controller\'s address',
    'controller:',
    `  rpc: ${scheme}://CONTROLLER_HOST:7700`,
    `  push: ${scheme}://CONTROLLER_HOST:7701`,
    `  health: ${scheme}://CONTROLLER_HOST:7702`,
    '',
  ].join('\n')
}
