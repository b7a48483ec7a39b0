/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "macro.h"
#include "member.h"
#include "util.h"

static const char *const role_names[_MEMBER_ROLE_MAX] = {
        [MEMBER_DOWN] = "down",
        [MEMBER_STANDBY] = "standby",
        [MEMBER_PRIMARY] = "primary",
};

const char *member_role_to_string(MemberRole r) {
        return r < _MEMBER_ROLE_MAX ? role_names[r] : "unknown";
}

static int to_json(const Member *m, bool with_leader, char **ret);

int member_to_json(const Member *m, char **ret) {
        return to_json(m, false, ret);
}

int member_to_sync_json(const Member *m, char **ret) {
        Member k = *m;

        /* Only what changes when the list does: no position, no time. */
        k.lsn = 0;
        k.time = 0;
        k.role = MEMBER_PRIMARY;
        return to_json(&k, true, ret);
}

static int to_json(const Member *m, bool with_leader, char **ret) {
        json_object *o = json_object_new_object(), *sync = NULL;
        char lsn[32], sysid[32];
        char *s = NULL;

        if (!o)
                return -ENOMEM;
        snprintf(lsn, sizeof(lsn), LSN_FMT, LSN_ARGS(m->lsn));
        snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) m->sysid);
        json_object_object_add(o, "role", json_object_new_string(member_role_to_string(m->role)));
        json_object_object_add(o, "timeline", json_object_new_int64(m->timeline));
        json_object_object_add(o, "lsn", json_object_new_string(lsn));
        json_object_object_add(o, "system", json_object_new_string(sysid));
        if (m->role == MEMBER_STANDBY)
                json_object_object_add(o, "streaming", json_object_new_boolean(m->streaming));
        if (m->role == MEMBER_PRIMARY) {
                sync = json_object_new_array();
                for (size_t i = 0; sync && i < m->n_sync; i++)
                        json_object_array_add(sync, json_object_new_string(m->sync[i]));
                json_object_object_add(o, "sync", sync);
        }
        json_object_object_add(o, "time", json_object_new_int64(m->time));
        if (with_leader)
                json_object_object_add(o, "leader", json_object_new_string(m->name));
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

int member_from_json(const char *name, const char *json, Member *ret) {
        json_object *o = NULL, *v;
        Member m = {};
        const char *s;
        int r = -EBADMSG;

        if (strlen(name) >= sizeof(m.name))
                return -EBADMSG;
        strcpy(m.name, name);
        o = json_tokener_parse(json);
        if (!o || !json_object_is_type(o, json_type_object))
                goto out;
        s = get_string(o, "role");
        for (m.role = 0; s && m.role < _MEMBER_ROLE_MAX; m.role++)
                if (streq(s, role_names[m.role]))
                        break;
        if (!s || m.role == _MEMBER_ROLE_MAX)
                goto out;
        if (json_object_object_get_ex(o, "timeline", &v) && json_object_is_type(v, json_type_int)) {
                int64_t t = json_object_get_int64(v);

                if (t < 0 || t > UINT32_MAX)
                        goto out;
                m.timeline = (unsigned) t;
        }
        s = get_string(o, "lsn");
        if (!s || control_parse_lsn(s, &m.lsn) < 0)
                goto out;
        s = get_string(o, "system");
        if (s && parse_u64(s, &m.sysid) < 0)
                goto out;
        if (json_object_object_get_ex(o, "streaming", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        goto out;
                m.streaming = json_object_get_boolean(v);
        }
        if (json_object_object_get_ex(o, "time", &v) && json_object_is_type(v, json_type_int))
                m.time = json_object_get_int64(v);
        if (json_object_object_get_ex(o, "sync", &v) && json_object_is_type(v, json_type_array)) {
                size_t n = json_object_array_length(v);

                for (size_t i = 0; i < n && m.n_sync < MEMBER_SYNC_MAX; i++) {
                        json_object *e = json_object_array_get_idx(v, i);

                        if (!json_object_is_type(e, json_type_string) ||
                            strlen(json_object_get_string(e)) >= MEMBER_NAME_MAX)
                                goto out;
                        strcpy(m.sync[m.n_sync++], json_object_get_string(e));
                }
        }
        *ret = m;
        r = 0;
out:
        json_object_put(o);
        return r;
}

bool member_lists_sync(const Member *primary, const char *name) {
        for (size_t i = 0; i < primary->n_sync; i++)
                if (streq(primary->sync[i], name))
                        return true;
        return false;
}

int member_sync_owner(const char *json, char *name, size_t n) {
        json_object *o = json_tokener_parse(json);
        const char *v = o && json_object_is_type(o, json_type_object) ? get_string(o, "leader") : NULL;
        int r = v && *v && strlen(v) < n ? 0 : -EBADMSG;

        if (r == 0)
                strcpy(name, v);
        json_object_put(o);
        return r;
}

int member_switchover_target(const char *json, char **ret_to) {
        json_object *o = json_tokener_parse(json);
        const char *to = o && json_object_is_type(o, json_type_object) ? get_string(o, "to") : NULL;
        char *s = to && *to && strlen(to) < MEMBER_NAME_MAX ? strdup(to) : NULL;
        bool bad = !to || !*to || strlen(to) >= MEMBER_NAME_MAX;

        json_object_put(o);
        if (bad)
                return -EBADMSG;
        if (!s)
                return -ENOMEM;
        *ret_to = s;
        return 0;
}

const char *elect_ineligible_why(const ElectInput *in, const Member *m) {
        const Member *lp = in->last_primary;

        if (m->role != MEMBER_STANDBY)
                return "it is not a running standby";
        if (lp && lp->sysid && m->sysid && lp->sysid != m->sysid)
                return "it belongs to another system than the last primary";
        if (in->sync_mode) {
                /* Only a synchronous standby has every commit the primary acknowledged. */
                if (!lp)
                        return "with synchronous commit only a synchronous standby of the last primary may take "
                               "over, and this agent never saw the last primary's list";
                if (member_lists_sync(lp, m->name))
                        return NULL;
                /* Only against a position published after the key went: an older one may lag the commits
                 * that standby acknowledged since. */
                for (size_t i = 0; i < in->n_members; i++) {
                        const Member *s = &in->members[i];

                        if (s->role == MEMBER_STANDBY && member_lists_sync(lp, s->name) &&
                            s->revision > in->fresh_after && m->lsn >= s->lsn)
                                return NULL;
                }
                return "with synchronous commit only a synchronous standby of the last primary, or one with at "
                       "least as much WAL as a running one, may take over";
        }
        if (lp && lp->lsn > m->lsn && lp->lsn - m->lsn > in->max_lag)
                return "it is further behind the last primary than POSTGRESQL_MAXIMUM_LAG_ON_FAILOVER";
        return NULL;
}

/* Whether a goes before b: more WAL first, then the lower name. */
static bool better(const Member *a, const Member *b) {
        if (a->lsn != b->lsn)
                return a->lsn > b->lsn;
        return strcmp(a->name, b->name) < 0;
}

ElectVerdict elect_decide(const ElectInput *in, const Member *self, const char **ret_why) {
        const char *why;

        why = elect_ineligible_why(in, self);
        if (why) {
                *ret_why = why;
                return ELECT_INELIGIBLE;
        }
        /* A switchover names its target; the others let it go first, until the grace is over. */
        if (in->switchover_to) {
                if (streq(in->switchover_to, in->self))
                        return ELECT_TAKE;
                if (!in->grace_over) {
                        *ret_why = "a switchover to another member is in progress";
                        return ELECT_WAIT;
                }
        }
        /* After the grace a better member that did not take the key may be gone. With synchronous commit
         * only a listed synchronous standby may go before it (it has every acknowledged commit); one that
         * is eligible by its position alone waits while a better one is there. */
        if (in->grace_over && (!in->sync_mode || (in->last_primary && member_lists_sync(in->last_primary, self->name))))
                return ELECT_TAKE;
        for (size_t i = 0; i < in->n_members; i++) {
                const Member *m = &in->members[i];

                if (streq(m->name, in->self) || elect_ineligible_why(in, m))
                        continue;
                if (better(m, self)) {
                        *ret_why = "an eligible member with more WAL goes first";
                        return ELECT_WAIT;
                }
        }
        return ELECT_TAKE;
}
