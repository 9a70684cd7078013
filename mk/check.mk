# lib/check.h shares its name with libcheck's <check.h>, which every unit
# test includes.  Search lib/ for "quoted" includes only, so that
# <check.h> is always the Check framework and "check.h" always ours.
$(eval CFLAGS_ALL = $(subst -Ilib ,-iquote lib ,$(value CFLAGS_ALL)))
