// agents.js: which of the deployment's agents answers (docs/protocol.md, `list_agents` and a
// message's `agent`). With more than one, a small select above the message box offers them (the
// default selected, each one's description as its title); with one, nothing is shown and
// messages name no agent, as before.

const $ = (id) => document.getElementById(id);

let defaultName = null;

/** Ask the gateway for its agents (on each connect) and offer them when there is a choice. */
export async function loadAgents(client) {
  let agents;
  try {
    agents = await client.listAgents();
  } catch {
    return; // an older gateway without list_agents, or no agent answering: no choice to offer
  }
  showAgents(agents);
}

/** Fill the select from an `agents` list; keeps the person's choice if it is still there. */
export function showAgents(agents) {
  const select = $("agent");
  const chosen = select.value;
  defaultName = (agents.find((agent) => agent.default) || agents[0])?.name ?? null;
  $("agent-bar").hidden = agents.length < 2;
  select.replaceChildren(...agents.map((agent) => {
    const option = document.createElement("option");
    option.value = agent.name;
    option.textContent = agent.default ? `${agent.name} (default)` : agent.name;
    option.title = agent.description || "";
    return option;
  }));
  select.value = agents.some((agent) => agent.name === chosen) ? chosen : defaultName ?? "";
  describeChoice();
}

/** The agent a message should name: null for the default (or when there is no choice). */
export function chosenAgent() {
  const select = $("agent");
  if ($("agent-bar").hidden || !select.value || select.value === defaultName) return null;
  return select.value;
}

function describeChoice() {
  const option = $("agent").selectedOptions[0];
  $("agent-about").textContent = option?.title || "";
  $("agent").title = option?.title || "";
}

export function initAgents() {
  $("agent").addEventListener("change", describeChoice);
}
