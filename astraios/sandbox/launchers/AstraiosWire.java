import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Array;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The plain-data wire format between a Java candidate and its tests (see astraios/sandbox/__init__.py).
 *
 * A message is a 4-byte length and that many bytes (at most MAX_MESSAGE). A value is a tag byte and
 * its payload: n null; z boolean; b byte; s short; c char; i int; j long; f float; d double;
 * S string (length, UTF-16 chars); L list, E set, M map (modifiability: as is, fixed size or
 * unmodifiable; count; items, maps as keys and values);
 * O optional (present flag, value); [ array (component class name, length, items); A the sender's
 * own earlier object number k. Objects (strings, collections, optionals, arrays) are numbered in
 * the order a call's arguments are written; a reply refers to an argument it returns by its
 * number, so the tests get their own object back (`==` holds, as in one JVM).
 * Decoding builds only these JDK types (ArrayList, LinkedHashSet, LinkedHashMap in the sender's
 * order, or their fixed-size or unmodifiable views where the sender's were so, Optional, arrays of
 * whitelisted component types), with every count checked against the
 * bytes left and nesting bounded by MAX_DEPTH, so nothing the sender wrote runs where a value is
 * decoded. Encoding reads any List, Set, Map or Optional through its interface (a sender's own
 * implementation is sent as its contents); any other object is not plain data.
 */
final class AstraiosWire {
    static final int MAX_MESSAGE = 64 << 20;
    static final int MAX_DEPTH = 100;

    static final class NotPlainData extends RuntimeException {
        NotPlainData(String message) {
            super(message);
        }
    }

    static final class Malformed extends Exception {
        Malformed(String message) {
            super(message);
        }
    }

    // ------------------------------------------------------------------------------ framing
    static void send(OutputStream out, byte[] message) throws IOException {
        if (message.length > MAX_MESSAGE) {
            throw new NotPlainData("a message of " + message.length + " bytes, above the limit of " + MAX_MESSAGE);
        }
        out.write(new byte[] {(byte) (message.length >>> 24), (byte) (message.length >>> 16),
                (byte) (message.length >>> 8), (byte) message.length});
        out.write(message);
        out.flush();
    }

    /** The next message, or null at the end of input. */
    static ByteBuffer receive(InputStream in) throws IOException, Malformed {
        byte[] header = in.readNBytes(4);
        if (header.length == 0) {
            return null;
        }
        if (header.length < 4) {
            throw new Malformed("the message was cut short");
        }
        int size = ByteBuffer.wrap(header).getInt();
        if (size < 0 || size > MAX_MESSAGE) {
            throw new Malformed("a message of " + size + " bytes announced");
        }
        byte[] body = in.readNBytes(size);
        if (body.length < size) {
            throw new Malformed("the message was cut short");
        }
        return ByteBuffer.wrap(body);
    }

    /** Objects numbered in writing or reading order (a call's arguments), and the ones a reply may
     * refer back to. */
    private final List<Object> numbered = new ArrayList<>();
    private final Map<Object, Integer> numbers = new IdentityHashMap<>();
    private final Map<Object, Integer> referable = new IdentityHashMap<>();

    /** The codec of a reply written to the call `reader` read: it refers to the call's objects. */
    static AstraiosWire replyTo(AstraiosWire reader) {
        AstraiosWire writer = new AstraiosWire();
        writer.referable.putAll(reader.numbers);
        return writer;
    }

    /** The codec of a reply to the call `writer` wrote: references resolve to the call's objects. */
    static AstraiosWire replyFrom(AstraiosWire writer) {
        AstraiosWire reader = new AstraiosWire();
        reader.numbered.addAll(writer.numbered);
        return reader;
    }

    private void number(Object value) {
        numbers.putIfAbsent(value, numbered.size());
        numbered.add(value);
    }

    /** A number for a collection read before its items (the writer numbers it so) but made after. */
    private int reserve() {
        numbered.add(null);
        return numbered.size() - 1;
    }

    private Object fill(int slot, Object value) {
        numbered.set(slot, value);
        numbers.putIfAbsent(value, slot);
        return value;
    }

    // What a collection allows, sent with it so the other side's copy allows the same: a candidate
    // adding to the tests' Arrays.asList or List.of fails there as in one JVM.
    static final byte MODIFIABLE = 0, FIXED_SIZE = 1, UNMODIFIABLE = 2;

    static byte modifiability(Object collection) {
        String name = collection.getClass().getName();
        if (name.equals("java.util.Arrays$ArrayList")) {
            return FIXED_SIZE;
        }
        boolean unmodifiable = name.startsWith("java.util.ImmutableCollections$")
                || name.startsWith("java.util.Collections$Unmodifiable") || name.startsWith("java.util.Collections$Empty")
                || name.startsWith("java.util.Collections$Singleton");
        return unmodifiable ? UNMODIFIABLE : MODIFIABLE;
    }

    // ----------------------------------------------------------------------------- encoding
    void write(DataOutputStream out, Object value, int depth) throws IOException {
        if (value != null && referable.containsKey(value)) {
            out.writeByte('A');
            out.writeInt(referable.get(value));
            return;
        }
        writeContent(out, value, depth);
    }

    /** The value itself, even when it is one the reader holds (the final contents of an argument). */
    private void writeContent(DataOutputStream out, Object value, int depth) throws IOException {
        if (depth > MAX_DEPTH) {
            throw new NotPlainData("values nested more than " + MAX_DEPTH + " deep");
        }
        if (value == null) {
            out.writeByte('n');
        } else if (value instanceof Boolean v) {
            out.writeByte('z');
            out.writeBoolean(v);
        } else if (value instanceof Byte v) {
            out.writeByte('b');
            out.writeByte(v);
        } else if (value instanceof Short v) {
            out.writeByte('s');
            out.writeShort(v);
        } else if (value instanceof Character v) {
            out.writeByte('c');
            out.writeChar(v);
        } else if (value instanceof Integer v) {
            out.writeByte('i');
            out.writeInt(v);
        } else if (value instanceof Long v) {
            out.writeByte('j');
            out.writeLong(v);
        } else if (value instanceof Float v) {
            out.writeByte('f');
            out.writeFloat(v);
        } else if (value instanceof Double v) {
            out.writeByte('d');
            out.writeDouble(v);
        } else if (value instanceof String v) {
            number(v);
            out.writeByte('S');
            out.writeInt(v.length());
            out.writeChars(v);
        } else if (value instanceof List<?> v) {
            writeItems(out, 'L', v, depth);
        } else if (value instanceof Set<?> v) {
            writeItems(out, 'E', v, depth);
        } else if (value instanceof Map<?, ?> v) {
            number(v);
            List<Object> flat = new ArrayList<>();
            for (Map.Entry<?, ?> entry : v.entrySet()) {
                flat.add(entry.getKey());
                flat.add(entry.getValue());
            }
            out.writeByte('M');
            out.writeByte(modifiability(v));
            out.writeInt(flat.size() / 2);
            for (Object item : flat) {
                write(out, item, depth + 1);
            }
        } else if (value instanceof Optional<?> v) {
            out.writeByte('O');
            out.writeBoolean(v.isPresent());
            if (v.isPresent()) {
                write(out, v.get(), depth + 1);
            }
            number(v); // after its value, as the reader can only make it then
        } else if (value.getClass().isArray() && componentAllowed(value.getClass().getComponentType())) {
            number(value);
            out.writeByte('[');
            out.writeUTF(value.getClass().getComponentType().getName());
            int length = Array.getLength(value);
            out.writeInt(length);
            for (int i = 0; i < length; i++) {
                write(out, Array.get(value, i), depth + 1);
            }
        } else {
            throw new NotPlainData("a " + value.getClass().getName() + " is not plain data");
        }
    }

    private void writeItems(DataOutputStream out, char tag, Collection<?> items, int depth) throws IOException {
        number(items);
        List<Object> copy = new ArrayList<>(items);
        out.writeByte(tag);
        out.writeByte(modifiability(items));
        out.writeInt(copy.size());
        for (Object item : copy) {
            write(out, item, depth + 1);
        }
    }

    /** A message: the byte `kind`, the strings `names`, then `values`. */
    byte[] message(char kind, List<String> names, List<Object> values) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeByte(kind);
        for (String name : names) {
            out.writeUTF(name);
        }
        out.writeInt(values.size());
        for (Object value : values) {
            write(out, value, 0);
        }
        return bytes.toByteArray();
    }

    /** A reply to the call `reader` read: its result, then the final contents of every container
     * among the call's objects (collections and arrays), which the tests copy into their own, so a
     * candidate's in-place changes to its arguments reach them as in one JVM. */
    byte[] reply(Object result, AstraiosWire reader) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeByte('R');
        List<Integer> containers = new ArrayList<>();
        for (int i = 0; i < reader.numbered.size(); i++) {
            Object value = reader.numbered.get(i);
            if (value instanceof Collection || value instanceof Map || value.getClass().isArray()) {
                containers.add(i);
            }
        }
        out.writeInt(1 + 2 * containers.size());
        write(out, result, 0);
        for (int i : containers) {
            write(out, i, 0);
            writeContent(out, reader.numbered.get(i), 0);
        }
        return bytes.toByteArray();
    }

    /** The result of a reply to the call this codec wrote, after copying the final contents of the
     * call's containers into the caller's own (values: the reply's, decoded by replyFrom(this)). */
    Object applyReply(List<Object> values) throws Malformed {
        if (values.size() % 2 != 1) {
            throw new Malformed("a reply without its result");
        }
        for (int k = 1; k < values.size(); k += 2) {
            if (!(values.get(k) instanceof Integer number) || number < 0 || number >= numbered.size()) {
                throw new Malformed("an update of an unknown object");
            }
            update(numbered.get(number), values.get(k + 1));
        }
        return values.get(0);
    }

    @SuppressWarnings("unchecked")
    private static void update(Object original, Object changed) throws Malformed {
        if (original instanceof List && changed instanceof List) {
            List<Object> target = (List<Object>) original;
            List<Object> source = (List<Object>) changed;
            if (target.equals(source)) {
                return;
            }
            if (target.size() == source.size()) { // set() also works on fixed-size lists (Arrays.asList)
                for (int i = 0; i < source.size(); i++) {
                    target.set(i, source.get(i));
                }
            } else {
                target.clear();
                target.addAll(source);
            }
        } else if (original instanceof Set && changed instanceof Set) {
            if (!original.equals(changed)) {
                ((Set<Object>) original).clear();
                ((Set<Object>) original).addAll((Set<Object>) changed);
            }
        } else if (original instanceof Map && changed instanceof Map) {
            if (!original.equals(changed)) {
                ((Map<Object, Object>) original).clear();
                ((Map<Object, Object>) original).putAll((Map<Object, Object>) changed);
            }
        } else if (original != null && original.getClass().isArray() && changed != null
                && changed.getClass() == original.getClass() && Array.getLength(original) == Array.getLength(changed)) {
            System.arraycopy(changed, 0, original, 0, Array.getLength(original));
        } else if (original != changed) {
            throw new Malformed("an update that changes an object's kind");
        }
    }

    // ----------------------------------------------------------------------------- decoding
    /** The values of a message, after its kind byte and names have been read. */
    List<Object> values(ByteBuffer in) throws Malformed {
        int size;
        try {
            size = count(in, 1);
        } catch (BufferUnderflowException e) {
            throw new Malformed("a message without its values");
        }
        List<Object> values = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            values.add(read(in, 0));
        }
        if (in.hasRemaining()) {
            throw new Malformed("bytes after the message's values");
        }
        return values;
    }

    Object read(ByteBuffer in, int depth) throws Malformed {
        if (depth > MAX_DEPTH) {
            throw new Malformed("values nested more than " + MAX_DEPTH + " deep");
        }
        try {
            byte tag = in.get();
            switch (tag) {
                case 'n': return null;
                case 'z': return in.get() != 0;
                case 'b': return in.get();
                case 's': return in.getShort();
                case 'c': return in.getChar();
                case 'i': return in.getInt();
                case 'j': return in.getLong();
                case 'f': return in.getFloat();
                case 'd': return in.getDouble();
                case 'A': {
                    int number = in.getInt();
                    if (number < 0 || number >= numbered.size()) {
                        throw new Malformed("a reference to an unknown object " + number);
                    }
                    return numbered.get(number);
                }
                case 'S': {
                    int length = count(in, 2);
                    char[] chars = new char[length];
                    in.asCharBuffer().get(chars);
                    in.position(in.position() + 2 * length);
                    String text = new String(chars);
                    number(text);
                    return text;
                }
                case 'L': {
                    byte kind = in.get();
                    int size = count(in, 1);
                    int slot = reserve();
                    List<Object> list = new ArrayList<>(size);
                    for (int i = 0; i < size; i++) {
                        list.add(read(in, depth + 1));
                    }
                    return fill(slot, kind == FIXED_SIZE ? Arrays.asList(list.toArray())
                            : kind == UNMODIFIABLE ? Collections.unmodifiableList(list) : list);
                }
                case 'E': {
                    byte kind = in.get();
                    int size = count(in, 1);
                    int slot = reserve();
                    Set<Object> set = new LinkedHashSet<>();
                    for (int i = 0; i < size; i++) {
                        set.add(read(in, depth + 1));
                    }
                    return fill(slot, kind == UNMODIFIABLE ? Collections.unmodifiableSet(set) : set);
                }
                case 'M': {
                    byte kind = in.get();
                    int size = count(in, 2);
                    int slot = reserve();
                    Map<Object, Object> map = new LinkedHashMap<>();
                    for (int i = 0; i < size; i++) {
                        Object key = read(in, depth + 1);
                        map.put(key, read(in, depth + 1));
                    }
                    return fill(slot, kind == UNMODIFIABLE ? Collections.unmodifiableMap(map) : map);
                }
                case 'O': {
                    Optional<Object> optional = in.get() != 0 ? Optional.ofNullable(read(in, depth + 1)) : Optional.empty();
                    number(optional); // after its value, as the writer does
                    return optional;
                }
                case '[': {
                    Class<?> component = componentNamed(utf(in));
                    int length = count(in, 1);
                    Object array = Array.newInstance(component, length);
                    number(array);
                    for (int i = 0; i < length; i++) {
                        Array.set(array, i, read(in, depth + 1));
                    }
                    return array;
                }
                default:
                    throw new Malformed("an unknown tag " + tag);
            }
        } catch (BufferUnderflowException | IllegalArgumentException | ClassCastException e) {
            throw new Malformed("a malformed value: " + e);
        }
    }

    /** A count of items each taking at least `each` bytes: never more than the bytes left allow. */
    static int count(ByteBuffer in, int each) throws Malformed {
        int size = in.getInt();
        if (size < 0 || (long) size * each > in.remaining()) {
            throw new Malformed("a count of " + size + " with " + in.remaining() + " bytes left");
        }
        return size;
    }

    static String utf(ByteBuffer in) throws Malformed {
        int length = in.getShort() & 0xffff;
        if (length > in.remaining()) {
            throw new Malformed("a string longer than the message");
        }
        byte[] bytes = new byte[length];
        in.get(bytes);
        return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static final List<Class<?>> COMPONENTS = List.of(
            boolean.class, byte.class, short.class, char.class, int.class, long.class, float.class, double.class,
            Boolean.class, Byte.class, Short.class, Character.class, Integer.class, Long.class, Float.class,
            Double.class, String.class, Object.class, List.class, Set.class, Map.class, Optional.class);

    static boolean componentAllowed(Class<?> component) {
        while (component.isArray()) {
            component = component.getComponentType();
        }
        return COMPONENTS.contains(component);
    }

    static Class<?> componentNamed(String name) throws Malformed {
        for (Class<?> allowed : COMPONENTS) {
            if (allowed.getName().equals(name)) {
                return allowed;
            }
        }
        if (name.startsWith("[")) {
            try {
                Class<?> nested = Class.forName(name, false, null);
                if (componentAllowed(nested)) {
                    return nested;
                }
            } catch (ClassNotFoundException e) {
                // falls through to the refusal
            }
        }
        throw new Malformed("arrays of " + name + " cannot cross");
    }

    // ------------------------------------------------------------------------- limit markers
    /** The resource limit behind an uncaught exception (anywhere in its causes), or null; the
     * markers are the Python launchers' (python_calls.LIMIT_MARKERS). */
    static String limitMarker(Throwable cause) {
        for (int depth = 0; cause != null && depth < 32; cause = cause.getCause(), depth++) {
            if (cause instanceof OutOfMemoryError) {
                return "memory";
            }
            String message = String.valueOf(cause.getMessage());
            if (cause instanceof IOException) {
                if (message.contains("File too large")) {
                    return "fsize";
                }
                if (message.contains("Too many open files")) {
                    return "files";
                }
                if (message.contains("No space left on device")) {
                    return "space";
                }
            }
        }
        return null;
    }
}
