package org.newswire.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;
import org.junit.jupiter.api.Test;

class NewswireAnalyzersTest {

    static List<String> tokens(String name, String text) throws IOException {
        AnalyzerFactory factory = (AnalyzerFactory) instantiate(registered().get(name));
        List<String> out = new ArrayList<>();
        try (Analyzer analyzer = factory.create(); TokenStream ts = analyzer.tokenStream("f", text)) {
            CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
            ts.reset();
            while (ts.incrementToken()) {
                out.add(term.toString());
            }
            ts.end();
        }
        return out;
    }

    /** name -> class from named_components.json (flat two-level JSON, so a regex is enough here). */
    static Map<String, String> registered() throws IOException {
        Path file = Path.of(System.getProperty("plugin.metadata.dir", "src/main/plugin-metadata"), "named_components.json");
        String json = Files.readString(file);
        assertTrue(json.contains("\"" + AnalyzerFactory.class.getName() + "\""));
        Map<String, String> out = new TreeMap<>();
        Matcher m = Pattern.compile("\"(newswire_\\w+)\"\\s*:\\s*\"([\\w.$]+)\"").matcher(json);
        while (m.find()) {
            out.put(m.group(1), m.group(2));
        }
        return out;
    }

    static Object instantiate(String className) {
        try {
            return Class.forName(className).getConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void namedComponentsJsonMatchesAnnotatedClasses() throws IOException {
        Map<String, String> fromJson = registered();
        Map<String, String> fromClasses = new TreeMap<>();
        for (Class<?> c : NewswireAnalyzers.class.getDeclaredClasses()) {
            NamedComponent nc = c.getAnnotation(NamedComponent.class);
            if (nc != null) {
                assertTrue(AnalyzerFactory.class.isAssignableFrom(c), c.getName());
                fromClasses.put(nc.value(), c.getName());
            }
        }
        assertEquals(fromClasses, fromJson);
    }

    @Test
    void englishStemsAndDropsPossessive() throws IOException {
        assertEquals(List.of("negoti", "over", "putin", "demand"),
                tokens("newswire_english", "Negotiations over Putin's demands"));
    }

    @Test
    void russianStems() throws IOException {
        assertEquals(List.of("переговор", "зеленск"), tokens("newswire_russian", "переговоры Зеленского"));
    }

    @Test
    void ukrainianLemmatises() throws IOException {
        // Ambiguous forms keep every lemma at the same position ("Києві" -> кий, київ).
        assertEquals(List.of("переговори", "переговорити", "зеленський", "кий", "київ"),
                tokens("newswire_ukrainian", "Переговори Зеленського в Києві"));
    }

    @Test
    void foldingIsLanguageNeutral() throws IOException {
        assertEquals(List.of("zelenskyy", "in", "zurich", "the", "sao", "paulo"),
                tokens("newswire_folding", "Zelenskyy in Zürich, the São Paulo"));
    }

    @Test
    void everyAnalyzerProducesTokens() throws IOException {
        for (String name : registered().keySet()) {
            assertTrue(!tokens(name, "Reuters 2024 Zürich Москва القاهرة").isEmpty(), name);
        }
    }
}
