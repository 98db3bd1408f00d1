/* Which node, and where its agent listens: the same answers as src/cli/context.ts (nodePath) and
 * src/agent/paths.ts (agentDir, agentPaths, untrusted), or none (the client then leaves the
 * command to Node, which gives its own answer and its own errors). */
#ifndef PK_PATHS_H
#define PK_PATHS_H
#include <stddef.h>

/* Node's path.resolve(cwd, p): lexical (".." removes the name before it, symlinks or not). Caller frees. */
char *pk_resolve(const char *cwd, const char *p);
/* The node file when neither --node nor $POLYKEY_NODE names one; NULL: let Node decide. */
char *pk_default_node(const char *cwd, const char **why);
/* The agent socket of node file `node` when it passes the checks the Node client makes before
 * connecting (folder and socket ours alone); NULL with a reason otherwise. Caller frees. */
char *pk_agent_socket(const char *node, const char **why);
#endif
