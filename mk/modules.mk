# The sample external notifier modules (tests/modules): the loadable one
# and two that loading must refuse.

# openssl(1) makes the TLS receiver's certificate.
DEBS		+= openssl

MODULE_SRCS	= tests/modules/sample_notify.c
MODULE_SOS	= $(BUILD)/tests/modules/sample_notify.so \
		  $(BUILD)/tests/modules/sample_notify_badabi.so \
		  $(BUILD)/tests/modules/sample_notify_nosym.so

tools: $(MODULE_SOS)
$(UNIT_BINS): | $(MODULE_SOS)

$(BUILD)/tests/modules/sample_notify.so: tests/modules/sample_notify.c lib/notify.h lib/alert.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -shared -o $@ $< $(LDFLAGS_ALL)

# The same module claiming another ABI: loading it must be refused.
$(BUILD)/tests/modules/sample_notify_badabi.so: tests/modules/sample_notify.c lib/notify.h lib/alert.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -DSAMPLE_ABI=999 -fPIC -shared -o $@ $< $(LDFLAGS_ALL)

# ... and one without the descriptor.
$(BUILD)/tests/modules/sample_notify_nosym.so: tests/modules/sample_notify.c lib/notify.h lib/alert.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -DSAMPLE_NO_DESCRIPTOR -fPIC -shared -o $@ $< $(LDFLAGS_ALL)
