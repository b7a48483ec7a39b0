/* SPDX-License-Identifier: MIT */
/*
 * What `systemctl show -p Id,ActiveState,SubState,UnitFileState,StatusText` prints, read into the
 * units it is about (in any order, with missing and empty fields), and the unit names.
 */
#include <stdlib.h>
#include <string.h>

#include "assert.h"
#include "macro.h"
#include "units.h"

static void test_names(void) {
        _cleanup_free_ char *a = units_name(UNIT_PRIMARY, "main"), *b = units_name(UNIT_TRIGGER, "x-1");

        ASSERT_STREQ(a, "pgrepl-primary@main");
        ASSERT_STREQ(b, "pgrepl-trigger@x-1");
}

static void test_parse(void) {
        const char *out =
                "ActiveState=active\n"
                "SubState=running\n"
                "StatusText=standby: streaming from 10.0.0.1:5432, replay lag 0 B\n"
                "Id=pgrepl-trigger@main.service\n"
                "UnitFileState=static\n"
                "\n"
                "Id=pgrepl-standby@main.service\n"
                "ActiveState=failed\n"
                "SubState=failed\n"
                "UnitFileState=enabled\n"
                "StatusText=\n"
                "\n"
                "Id=pgrepl-other@main.service\n"
                "ActiveState=active\n";
        UnitState u[3] = { { .name = strdup("pgrepl-primary@main") }, { .name = strdup("pgrepl-standby@main") },
                           { .name = strdup("pgrepl-trigger@main") } };

        ASSERT_EQ(units_parse_show(out, u, 3), 0);
        ASSERT_TRUE(!u[0].active && !u[0].status);
        ASSERT_STREQ(u[1].active, "failed");
        ASSERT_STREQ(u[1].enabled, "enabled");
        ASSERT_TRUE(!u[1].status);
        ASSERT_STREQ(u[2].active, "active");
        ASSERT_STREQ(u[2].sub, "running");
        ASSERT_STREQ(u[2].enabled, "static");
        ASSERT_STREQ(u[2].status, "standby: streaming from 10.0.0.1:5432, replay lag 0 B");
        for (size_t i = 0; i < 3; i++)
                unit_state_done(&u[i]);
}

int main(void) {
        test_names();
        test_parse();
        return 0;
}
