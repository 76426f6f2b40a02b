<?php
/**
 * A post as a Relatedly article, field for field what `relatedly import` reads from the same post in a
 * WXR export (recommender/sources/wxr.py) or a REST dump, so an imported archive and the posts this
 * plugin sends are one catalogue: the id is the post ID as a string, the body the raw post content
 * (the excerpt when the content is empty), the first category by name, every tag, the GMT date, the
 * permalink, the featured image, the site's language and a post's Polylang language.
 *
 * @package Relatedly
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Which posts are articles, and their article records.
 */
final class Relatedly_Article {

	/**
	 * Longest post content sent, in bytes (the service refuses requests over 1 MB).
	 */
	const MAX_BODY_BYTES = 500000;

	/**
	 * Taxonomies that have fields of their own (the rest go to `terms`, as in an import).
	 */
	const OWN_FIELDS = array( 'category', 'post_tag', 'language' );

	/**
	 * Whether a post of this type is handled at all (sent when published, given a block).
	 *
	 * @param WP_Post $post The post.
	 */
	public static function handles( WP_Post $post ): bool {
		return in_array( $post->post_type, Relatedly_Settings::post_types(), true );
	}

	/**
	 * Whether the post should be served now: published, no password, a title — what an import keeps.
	 *
	 * @param WP_Post $post The post.
	 */
	public static function is_servable( WP_Post $post ): bool {
		return self::handles( $post ) && 'publish' === $post->post_status && '' === $post->post_password
			&& '' !== trim( wp_strip_all_tags( $post->post_title ) );
	}

	/**
	 * The article id of a post.
	 *
	 * @param int $post_id The post ID.
	 */
	public static function id( int $post_id ): string {
		return (string) $post_id;
	}

	/**
	 * The article record of a servable post (see the file comment for the mapping).
	 *
	 * @param WP_Post $post The post.
	 * @return array<string, mixed>
	 */
	public static function record( WP_Post $post ): array {
		$content = '' !== trim( $post->post_content ) ? $post->post_content : $post->post_excerpt;
		$fields  = array(
			'id'           => self::id( $post->ID ),
			'title'        => $post->post_title,
			// An import cleans every export field as HTML; the admin API cleans a body only when it
			// holds markup. The block wrapper makes it clean this one as HTML too (shortcodes, blank-line
			// paragraphs of the classic editor), so both give the model the same text.
			'body'         => "<div>\n" . self::cut( $content ) . "\n</div>",
			'tags'         => self::term_names( $post, 'post_tag' ),
			'category'     => null,
			'published_at' => self::published_at( $post ),
			'url'          => get_permalink( $post ),
			'image'        => self::featured_image( $post ),
		);
		$categories = self::term_names( $post, 'category' );
		if ( $categories ) {
			$fields['category'] = $categories[0];
		}
		if ( count( $categories ) > 1 ) {
			$fields['categories'] = $categories;
		}
		$site_language = (string) get_bloginfo( 'language' ); // An export's <language>, e.g. en-US.
		if ( '' !== $site_language ) {
			$fields['site_language'] = $site_language;
		}
		$language = taxonomy_exists( 'language' ) ? wp_get_object_terms( $post->ID, 'language', array( 'fields' => 'slugs' ) ) : array();
		if ( is_array( $language ) && $language ) {
			$fields['language'] = $language[0]; // Polylang: the slug is the language code.
		}
		$terms = array();
		foreach ( array_diff( get_object_taxonomies( $post->post_type ), self::OWN_FIELDS ) as $taxonomy ) {
			$names = self::term_names( $post, $taxonomy );
			if ( $names ) {
				$terms[ $taxonomy ] = $names;
			}
		}
		if ( $terms ) {
			$fields['terms'] = $terms;
		}
		/**
		 * Filters the article record sent to Relatedly for a post.
		 *
		 * @param array   $fields The record.
		 * @param WP_Post $post   The post.
		 */
		return (array) apply_filters( 'relatedly_article', $fields, $post );
	}

	/**
	 * The content cut to MAX_BODY_BYTES, never inside a UTF-8 character (mbstring is optional in WordPress).
	 *
	 * @param string $content Post content.
	 */
	private static function cut( string $content ): string {
		if ( strlen( $content ) <= self::MAX_BODY_BYTES ) {
			return $content;
		}
		return (string) preg_replace( '/[\xC0-\xFF][\x80-\xBF]*$/', '', substr( $content, 0, self::MAX_BODY_BYTES ) );
	}

	/**
	 * Term names of one taxonomy, by name (the order of an export).
	 *
	 * @param WP_Post $post     The post.
	 * @param string  $taxonomy Taxonomy name.
	 * @return string[]
	 */
	private static function term_names( WP_Post $post, string $taxonomy ): array {
		$names = wp_get_object_terms( $post->ID, $taxonomy, array( 'fields' => 'names' ) );
		return is_array( $names ) ? array_values( array_map( 'strval', $names ) ) : array();
	}

	/**
	 * The GMT publication date as an export gives it: ISO 8601 without a zone (read as UTC).
	 *
	 * @param WP_Post $post The post.
	 */
	private static function published_at( WP_Post $post ): ?string {
		$gmt = $post->post_date_gmt;
		if ( '' === $gmt || '0000-00-00 00:00:00' === $gmt ) {
			$gmt = get_gmt_from_date( $post->post_date );
		}
		return '' !== $gmt ? str_replace( ' ', 'T', $gmt ) : null;
	}

	/**
	 * The featured image's URL, or null.
	 *
	 * @param WP_Post $post The post.
	 */
	private static function featured_image( WP_Post $post ): ?string {
		$thumbnail = (int) get_post_thumbnail_id( $post );
		$url       = $thumbnail ? wp_get_attachment_url( $thumbnail ) : false;
		return is_string( $url ) && '' !== $url ? $url : null;
	}
}
