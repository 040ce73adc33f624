/* Unit tests of how PID 1 reads mount points back from /proc/self/mounts
 * (common/mount_escape.c): escaped paths are unescaped before umount2(). */
#include "../../common/mount_escape.h"
#include "check.h"

static void unescaped(const char *in, const char *want)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", in);
	mount_unescape(buf);
	CHECK_STR(buf, want);
}

int main(void)
{
	unescaped("/w\\040x", "/w x");
	unescaped("/a\\011b\\012c\\134d", "/a\tb\nc\\d");
	unescaped("/plain", "/plain");
	unescaped("/not\\9ab", "/not\\9ab"); /* not an octal escape */
	unescaped("/cut\\04", "/cut\\04");
	unescaped("/end\\", "/end\\");
	unescaped("", "");
	return check_summary("test_mounts");
}
